"""densnet: machine-learned electron densities, energies, forces and dipoles for molecular dynamics."""

__version__ = "0.1.0"
