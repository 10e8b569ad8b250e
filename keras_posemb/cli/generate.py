"""Generate text with a language model trained by keras-posemb-lm.

Prints the prompt followed by the generated text. Greedy by default
(--temperature 0); with a temperature, sampled (optionally from the --top-k
most likely tokens, or the smallest set with --top-p of the probability),
the same text for the same --seed. Works on every Keras backend.

examples:
  keras-posemb-generate runs/lm_builtin_rotary "the dog"
  keras-posemb-generate runs/lm_input_alibi "ROMEO:" --max-new-tokens 300 --temperature 0.8 --top-k 20 --seed 1
"""

from __future__ import annotations

from keras_posemb import cli
from keras_posemb.errors import argument_error
from keras_posemb.run import Run


def _main(argv):
    description, epilog = cli.split_docstring(__doc__)
    parser = cli.Parser(description=description, epilog=epilog)
    parser.add_argument("run_dir", help="a run directory of keras-posemb-lm")
    parser.add_argument("prompt", help="the text to continue")
    parser.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    parser.add_argument("--top-k", type=int, default=None, help="sample from the K most likely")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    args = parser.parse_args(argv)
    run = Run(args.run_dir)
    if not run.is_complete() or Run.TOKENS not in run.owner.entries():
        cli.fail(f"{args.run_dir} is not a finished run of keras-posemb-lm.")
    if not args.prompt:
        raise argument_error("prompt", args.prompt, "at least one character")
    vocabulary = run.read_tokens()
    prompt_ids = vocabulary.encode(args.prompt, "prompt")
    model = run.load_model()
    ids = model.generate(
        prompt_ids[None],
        args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    print(vocabulary.decode(ids[0]))


main = cli.main_wrapper(_main)

if __name__ == "__main__":
    main()
