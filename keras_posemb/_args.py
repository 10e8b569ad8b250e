"""Argument checks shared by the layers and models: each error names the
argument, the value received and what was expected."""


def check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"Argument `{name}` must be True or False; received {name}={value!r}.")
    return value


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Argument `{name}` must be a positive int; received {name}={value!r}.")
    return value


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"Argument `{name}` must be one of {choices}; received {name}={value!r}.")
    return value
