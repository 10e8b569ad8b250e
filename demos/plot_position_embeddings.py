"""`python demos/plot_position_embeddings.py` is `keras-posemb-plot`: see `--help`.

The command-line code lives in `keras_posemb/cli/plot.py`, so it also works
after `pip install keras-posemb` without this repository.
"""

from keras_posemb_cli import plot as main

if __name__ == "__main__":
    main()
