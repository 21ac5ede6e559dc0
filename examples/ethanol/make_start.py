"""Write start.xyz: trans ethanol (ASE's g2 geometry) and gauche ethanol (C-C-O-H dihedral set to 60 deg)."""

import ase.io
import numpy as np
from ase.build import molecule

trans = molecule("CH3CH2OH")
sym = trans.get_chemical_symbols()
o = sym.index("O")
carbons = [i for i, s in enumerate(sym) if s == "C"]
c_o = min(carbons, key=lambda c: trans.get_distance(c, o))
c_me = next(c for c in carbons if c != c_o)
h_o = min((i for i, s in enumerate(sym) if s == "H"), key=lambda h: trans.get_distance(h, o))
gauche = trans.copy()
gauche.set_dihedral(c_me, c_o, o, h_o, 60.0, indices=[h_o])
trans.info["conformer"], gauche.info["conformer"] = "trans", "gauche"
assert np.isclose(trans.get_dihedral(c_me, c_o, o, h_o), 180.0)
ase.io.write("start.xyz", [trans, gauche])
