"""Names of the tensors that flow through densnet models, with shapes and units.

N atoms, E directed edges, B molecules (graphs) in a batch, F = largest number of density-basis functions of
any element (per-atom coefficient rows are padded with zeros to F, PySCF order within an element).
"""

from __future__ import annotations

POSITIONS = "positions"  # [N, 3] Angstrom
TYPES = "types"  # [N] int64, 0-based index into the model's element list
EDGE_INDEX = "edge_index"  # [2, E] int64; edge_index[0] = centre i, edge_index[1] = neighbour j
EDGE_SHIFT = "edge_shift"  # [E, 3] Angstrom; r_ij = pos[j] - pos[i] + edge_shift
BATCH = "batch"  # [N] int64, molecule index of each atom
NUM_GRAPHS = "num_graphs"  # int, B

EDGE_VECTORS = "edge_vectors"  # [E, 3] Angstrom
EDGE_LENGTHS = "edge_lengths"  # [E] Angstrom

COEFFS = "coeffs"  # [N, F] total density coefficients (SAD + Delta), PySCF order, zero padded
DELTA_COEFFS = "delta_coeffs"  # [N, F] Delta on top of the SAD prior
CHARGE_TRANSFER = "charge_transfer"  # [N] electrons gained by each atom through pair transfers
CHARGES = "charges"  # [N] e, q_A = Z_A - sum_s c_s n_s
ATOMIC_DIPOLES = "atomic_dipoles"  # [N, 3] e*A, p_A = -sum_p c_p d_p (about the atom's own position)
ATOM_ENERGY = "atom_energy"  # [N] eV
ENERGY = "energy"  # [B] eV
FORCES = "forces"  # [N, 3] eV/A
VIRIAL = "virial"  # [B, 3, 3] eV, W = -sum_e r_e (x) dE/dr_e
DIPOLE = "dipole"  # [B, 3] e*A, mu = sum_A q_A R_A + p_A
