"""`python demos/predict.py RUN_DIR TEXT...` is `keras-posemb-predict`: see `--help`.

The command-line code lives in `keras_posemb/cli/predict.py`, so it also works
after `pip install keras-posemb` without this repository.
"""

from keras_posemb_cli import predict as main

if __name__ == "__main__":
    main()
