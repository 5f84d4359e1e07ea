"""Smoke test of an installed wheel (./build.sh test, stage "Python wheel"): run with the virtual environment's
python from outside the repository, so `import edgequant` can only find the installed package and the library
inside it. Prints the logits of one image as IEEE-754 hex, like `edgequant run --bits`.

    VENV/bin/python check_wheel.py MODEL.eqm IMAGE.pgm
"""

import os
import struct
import sys

import edgequant

here = os.path.dirname(os.path.abspath(edgequant.__file__))
assert os.sep + "site-packages" + os.sep in here, f"edgequant imported from {here}, not from an installed wheel"
assert os.path.isfile(os.path.join(here, "libedgequant.so")), "the wheel carries no libedgequant.so"
with edgequant.Model(sys.argv[1]) as model, model.session() as session:
    logits = session.run_pixels(edgequant.read_pnm(sys.argv[2]))
for v in logits:
    print(struct.pack("<f", float(v))[::-1].hex())
