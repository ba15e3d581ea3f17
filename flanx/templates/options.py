"""Answer options rendered in several header and marker styles.

When the marker is a label such as "(A)", the target becomes that label, so the model learns to answer with
the label it was shown; with plain markers ("- ") the target is the option text itself.
"""

import dataclasses
import string

# Each header is its own tuple item. (A missing comma here silently glued two headers together in the
# public Flan code; tests check that every rendered header is exactly one of these.)
HEADERS: tuple[str, ...] = (
    "Options:",
    "Choose from:",
    "Pick one:",
    "Possible answers:",
    "Select one of the following:",
    "Answer choices:",
)


@dataclasses.dataclass(frozen=True)
class OptionStyle:
  header: str
  marker: str  # "dash", "star", "paren_letter", "letter_dot", "paren_number"

  @property
  def is_label(self) -> bool:
    return self.marker in ("paren_letter", "letter_dot", "paren_number")

  def label(self, i: int) -> str:
    if self.marker == "paren_number":
      return f"({i + 1})"
    letter = string.ascii_uppercase[i]
    return f"({letter})" if self.marker == "paren_letter" else f"{letter}."

  def fits(self, num_options: int) -> bool:
    """Letter labels run out after Z (ReCoRD lists dozens of entities)."""
    return self.marker not in ("paren_letter", "letter_dot") or num_options <= len(string.ascii_uppercase)

  def bullet(self, i: int) -> str:
    return self.label(i) if self.is_label else {"dash": "-", "star": "*"}[self.marker]


MARKERS: tuple[str, ...] = ("dash", "star", "paren_letter", "letter_dot", "paren_number")
OPTION_STYLES: tuple[OptionStyle, ...] = tuple(OptionStyle(h, m) for h in HEADERS for m in MARKERS)


def render_options(options: list[str], answer: str, style: OptionStyle) -> tuple[str, str]:
  """(options block, target). The target is the label of `answer` for label styles, else `answer` itself."""
  if answer not in options:
    raise ValueError(f"answer {answer!r} is not one of the options {options!r}")
  lines = [style.header] + [f"{style.bullet(i)} {o}" for i, o in enumerate(options)]
  target = style.label(options.index(answer)) if style.is_label else answer
  return "\n".join(lines), target
