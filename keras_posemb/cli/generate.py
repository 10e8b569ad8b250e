"""Generate text with a language model trained by keras-posemb-lm.

Prints --num-samples continuations of the prompt, each the prompt followed
by --max-new-tokens generated tokens, separated by a line of dashes. Sampled
by default as nanoGPT's sample.py does (temperature 0.8, the 200 most likely
tokens; it prints 10 samples of 500): --temperature 0 is greedy decoding
(the most likely token each step, one text). The same --seed gives the same
text on every Keras backend. With no prompt (or ""), generation starts as a
line of the text does, after a newline. --cache window or sinks keeps a
rolling cache of the last --window tokens (and the first --sinks): a text
of any length at constant memory.

examples:
  keras-posemb-generate runs/lm_builtin_rotary "the dog"
  keras-posemb-generate runs/lm_input_alibi "ROMEO:" --max-new-tokens 300 --num-samples 5
  keras-posemb-generate runs/lm_input_alibi --prompt-file opening.txt --temperature 0
  keras-posemb-generate runs/lm_input_rotary --max-new-tokens 5000 --cache sinks --window 60
"""

from __future__ import annotations

from keras_posemb import cli
from keras_posemb._args import check_int
from keras_posemb.data.characters import read_text
from keras_posemb.errors import DataError, Setting, argument_error
from keras_posemb.numerics.sampling import CACHES, DEFAULT_SINKS, check_cache, check_sampling
from keras_posemb.runs.run import LANGUAGE_MODEL, Run

# nanoGPT's sample.py: temperature 0.8, top_k 200 (and 10 samples).
TEMPERATURE, TOP_K, NUM_SAMPLES = 0.8, 200, 3
SEPARATOR = "-" * 15


def _parser():
    description, epilog = cli.split_docstring(__doc__)
    parser = cli.Parser(description=description, epilog=epilog)
    parser.add_argument("run_dir", help="a run directory of keras-posemb-lm")
    parser.add_argument(
        "prompt",
        nargs="?",
        default="",
        help='the text to continue (default: "", the start of a line)',
    )
    parser.add_argument("--prompt-file", help="read the prompt from this UTF-8 text file instead")
    parser.add_argument(
        "--num-samples", type=int, default=None,
        help=f"texts to generate (default: {NUM_SAMPLES} when sampling, 1 when greedy)",
    )  # fmt: skip
    parser.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate each")
    parser.add_argument(
        "--temperature", type=float, default=TEMPERATURE, help="divides the logits; 0: greedy"
    )
    parser.add_argument(
        "--top-k", type=int, default=None,
        help=f"sample from the K most likely tokens (default: {TOP_K} when sampling)",
    )  # fmt: skip
    parser.add_argument(
        "--top-p", type=float, default=None,
        help="sample from the smallest set of tokens whose probabilities reach P (nucleus)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling (an int >= 0)")
    parser.add_argument(
        "--cache", default="full", choices=CACHES,
        help="full: keep every token's keys and values; window: the last --window tokens'; "
        "sinks: the first --sinks tokens' too (default: full)",
    )  # fmt: skip
    parser.add_argument("--window", type=int, help="tokens a rolling cache keeps")
    parser.add_argument(
        "--sinks", type=int,
        help=f"first tokens --cache sinks keeps (default: {DEFAULT_SINKS})",
    )  # fmt: skip
    return parser


def _prompt(args) -> str:
    if args.prompt_file is None:
        return args.prompt
    if args.prompt:
        raise argument_error("prompt_file", args.prompt_file, "given without a prompt argument")
    return read_text(args.prompt_file, "utf-8", "prompt_file")


def _parse(argv):
    """The arguments, every flag checked (before Keras loads)."""
    args = _parser().parse_args(argv)
    greedy = args.temperature == 0
    if greedy and args.num_samples not in (None, 1):
        raise argument_error(
            "num_samples", args.num_samples, "1 with ", Setting("temperature", 0),
            " (greedy decoding gives one text)",
        )  # fmt: skip
    num_samples = args.num_samples
    if num_samples is None:
        num_samples = 1 if greedy else NUM_SAMPLES
    check_int("num_samples", num_samples)
    check_int("max_new_tokens", args.max_new_tokens, minimum=0)
    check_sampling(args.temperature, args.top_k, args.top_p)
    args.cache_sinks = check_cache(args.cache, args.window, args.sinks)
    if not greedy:
        check_int("seed", args.seed, minimum=0)
    args.num_samples = num_samples
    args.top_k = args.top_k if args.top_k is not None or greedy else TOP_K
    args.prompt = _prompt(args)
    return args


def _run(args):
    from keras_posemb.models.generation import cache_size, check_generation_fits

    prompt, num_samples = args.prompt, args.num_samples
    run = Run(args.run_dir)
    run.check_kind(LANGUAGE_MODEL)
    model, vocabulary = run.load_language_model()
    start = "" if prompt else vocabulary.line_start()
    if start is None:
        raise DataError(
            "This model's text has no newline to start a line from; give a prompt to continue."
        )
    prompt_ids = vocabulary.encode(start + prompt, "prompt")
    length, new = len(prompt_ids), args.max_new_tokens
    cached = cache_size(length + new, args.window, args.cache_sinks)
    # Before the batch of prompts is made: each check names its own setting.
    check_generation_fits(model, 1, length, new, cache_length=cached)
    check_generation_fits(model, num_samples, length, new, "num_samples", cached)
    ids = model.generate(
        prompt_ids[None].repeat(num_samples, axis=0),
        args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        cache=args.cache,
        window=args.window,
        sinks=args.sinks,
    )
    skipped = len(vocabulary.encode(start))
    texts = [vocabulary.decode(row[skipped:]) for row in ids]
    print(f"\n{SEPARATOR}\n".join(texts))


main = cli.main_wrapper(_parse, _run)

if __name__ == "__main__":
    main()
