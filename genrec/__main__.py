"""`python -m genrec ...` (what torchrun runs: `torchrun ... -m genrec train ...`)."""

from genrec.cli import main

if __name__ == "__main__":
    main()
