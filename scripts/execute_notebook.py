"""Execute one notebook with nbclient (what `jupyter nbconvert --execute` runs) and ALWAYS write it.

    python3 scripts/execute_notebook.py <in.ipynb> <out.ipynb> <kernel name> <cell timeout s>

`jupyter nbconvert --execute` writes nothing when a cell fails, and tslab reports a cell's error only
as a stderr stream (nbconvert then prints just "<Error>: "), so the real message of the first failing
run was lost and a rerun had to recover it (a rerun does not reproduce a failure that depends on
timing or state). This writes the partially executed notebook, the failing cell's stderr included,
before it exits. Exit codes: 0 ok; 3 a cell raised (the notebook is written); 4 the kernel died;
5 a cell timed out; 1 anything else. scripts/run_notebooks.ts runs it and reads the notebook.
"""
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

CELL_ERROR, DEAD_KERNEL, TIMEOUT = 3, 4, 5


def main() -> int:
    src, out, kernel, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(float(sys.argv[4]))
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={"metadata": {"path": "."}})
    code = 0
    try:
        client.execute()
    except CellTimeoutError as e:
        print(f"TimeoutError: {e}", file=sys.stderr)
        code = TIMEOUT
    except DeadKernelError as e:
        print(f"DeadKernelError: {e}", file=sys.stderr)
        code = DEAD_KERNEL
    except CellExecutionError as e:
        print(f"CellExecutionError: {e}", file=sys.stderr)
        code = CELL_ERROR
    nbformat.write(nb, out)
    return code


if __name__ == "__main__":
    sys.exit(main())
