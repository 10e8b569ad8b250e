"""`python demos/compare_encodings.py` is `keras-posemb-compare`: see `--help`.

The command-line code lives in `keras_posemb/cli/compare.py`, so it also works
after `pip install keras-posemb` without this repository.
"""

from keras_posemb_cli import compare as main

if __name__ == "__main__":
    main()
