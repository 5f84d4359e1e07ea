"""Helpers shared by the Python recipes in tools/ (data loading, safetensors I/O, ...). Import with tools/ on sys.path:

    sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
    from eqtools.data import read_idx
"""
