"""Instruction templates and the Flan formats (zero-/few-shot, options, chain-of-thought, input inversion).

`library` holds the project's own templates per task type, `options` renders answer options in several styles,
and `formats` turns one raw example (plus exemplars from the same task) into an (inputs, targets) pair.
"""

from flanx.templates.formats import FORMATS, Format, Rendered, render
from flanx.templates.library import ANSWER_PHRASE, TASK_TYPES, Template, templates_for
from flanx.templates.options import OPTION_STYLES, OptionStyle, render_options

__all__ = [
    "ANSWER_PHRASE", "FORMATS", "Format", "OPTION_STYLES", "OptionStyle", "Rendered", "TASK_TYPES", "Template",
    "render", "render_options", "templates_for",
]
