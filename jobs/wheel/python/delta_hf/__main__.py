"""`python -m delta_hf ARGS` runs the bundled `delta-hf` binary with ARGS."""

from delta_hf import main

if __name__ == "__main__":
    main()
