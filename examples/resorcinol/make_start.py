"""Write start.xyz: the three planar OH rotamers of resorcinol (1,3-dihydroxybenzene), relaxed with GFN2-xTB.

Ring carbons C1..C6 with OH on C1 and C3; C2 lies between them. Each hydroxyl H either points towards C2
("in", dihedral C2-C1-O-H ~ 0 deg) or away from it ("out", ~ 180 deg). The three rotamers are in/in,
in/out and out/out (out/in is the same molecule as in/out). The planar guess geometry is built here from
standard bond lengths, relaxed with GFN2-xTB (tblite's ASE calculator), and the script stops if a rotamer
left its well. Writes start.xyz (all three) and start_<o1>-<o3>.xyz per rotamer (in-in, in-out, out-out) for
make_data.sh. Run from this folder: python make_start.py
"""

import ase.io
import numpy as np
from ase import Atoms
from ase.optimize import BFGS
from tblite.ase import TBLite

R_CC, R_CH, R_CO, R_OH, ANGLE_COH = 1.39, 1.08, 1.36, 0.96, 109.0  # A, degrees (guess only)


def unit(deg):
    return np.array([np.cos(np.radians(deg)), np.sin(np.radians(deg)), 0.0])


def resorcinol(o1_h: str, o3_h: str) -> Atoms:
    """Planar guess. Atom order: C1..C6, O1 (on C1), O3 (on C3), H2 H4 H5 H6 (ring), HO1, HO3.

    Ring atom k (C1 = k 0) sits at angle 60 k deg, so C2 is at 60 deg; 'in' turns the O-H bond towards C2.
    """
    ring = [R_CC * unit(60 * k) for k in range(6)]
    pos = list(ring)
    pos += [(R_CC + R_CO) * unit(0), (R_CC + R_CO) * unit(120)]
    pos += [(R_CC + R_CH) * unit(60 * k) for k in (1, 3, 4, 5)]
    tilt = 180.0 - ANGLE_COH  # angle between the C->O and O->H directions
    for k, (o, side) in enumerate(((6, o1_h), (7, o3_h))):
        radial = 0.0 if k == 0 else 120.0
        towards_c2 = +1.0 if k == 0 else -1.0  # C2 (60 deg) lies counter-clockwise of C1, clockwise of C3
        sign = towards_c2 if side == "in" else -towards_c2
        pos.append(pos[o] + R_OH * unit(radial + sign * tilt))
    return Atoms("C6O2H6", positions=pos)


DIHEDRALS = {"C2-C1-O1-H": (1, 0, 6, 12), "C2-C3-O3-H": (1, 2, 7, 13)}


def wrapped(angle):
    return (angle + 180.0) % 360.0 - 180.0


starts = []
for o1, o3 in (("in", "in"), ("in", "out"), ("out", "out")):
    atoms = resorcinol(o1, o3)
    target = {"C2-C1-O1-H": 0.0 if o1 == "in" else 180.0, "C2-C3-O3-H": 0.0 if o3 == "in" else 180.0}
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    BFGS(atoms, logfile=None).run(fmax=1e-3, steps=1000)
    phis = {k: wrapped(atoms.get_dihedral(*v)) for k, v in DIHEDRALS.items()}
    name = f"{o1}/{o3}"
    print(f"{name:8s} " + "  ".join(f"{k} {v:7.1f}" for k, v in phis.items())
          + f"  E(GFN2) {atoms.get_potential_energy():.5f} eV")
    for k, v in phis.items():
        assert abs(wrapped(v - target[k])) < 30.0, f"{name}: {k} relaxed out of its well ({v:.1f} deg)"
    frame = atoms.copy()
    frame.calc = None
    frame.info.update(conformer=name, **{k.replace("-", "_"): round(float(v), 2) for k, v in phis.items()})
    starts.append(frame)
    ase.io.write(f"start_{o1}-{o3}.xyz", frame, format="extxyz")
ase.io.write("start.xyz", starts, format="extxyz")
