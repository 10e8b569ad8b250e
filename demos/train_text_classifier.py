"""`python demos/train_text_classifier.py` is `keras-posemb-train`: see `--help`.

The command-line code lives in `keras_posemb/cli/train.py`, so it also works
after `pip install keras-posemb` without this repository.
"""

from keras_posemb_cli import train as main

if __name__ == "__main__":
    main()
