"""The one few-shot prompt builder every benchmark uses, and the parser for released Q/A prompt files.

A prompt is an optional header, then `shots` exemplars, then the query whose answer is left open:

    {header}\n\n{q}{question}\n{a}{answer}\n\n ... \n\n{q}{query}\n{a}{lead}

`answer` keeps its own leading whitespace, so a released prompt parsed here and rebuilt is byte-identical.
"""

import dataclasses

COT_LEAD = " Let's think step by step."  # what BBH's and Flan's MMLU CoT exemplars start their answers with


@dataclasses.dataclass(frozen=True)
class Shot:
  question: str
  answer: str  # with its leading space, if any: " (B)", " Let's think step by step. ... The answer is (B)."


@dataclasses.dataclass(frozen=True)
class Prompt:
  """A built prompt and what the evaluator needs to fit it and size its decode budget (EvalExample's fields)."""
  text: str
  shot_starts: tuple[int, ...]        # where each exemplar starts in `text`, then where the query starts
  exemplar_answers: tuple[str, ...]   # the exemplars' answers, as the model is to write its own

  def fields(self) -> dict:
    return {"inputs": self.text, "shot_starts": self.shot_starts, "exemplar_answers": self.exemplar_answers}


@dataclasses.dataclass(frozen=True)
class PromptFormat:
  question_prefix: str = "Q: "
  answer_prefix: str = "A:"
  separator: str = "\n\n"

  def shot(self, question: str, answer: str) -> str:
    return f"{self.question_prefix}{question}\n{self.answer_prefix}{answer}"

  def build(self, header: str, shots: list[Shot], query: str, lead: str = "") -> str:
    """The prompt for `query`; `lead` opens the model's answer (e.g. COT_LEAD)."""
    return self.prompt(header, shots, query, lead).text

  def prompt(self, header: str, shots: list[Shot], query: str, lead: str = "", zero_shot: bool = False) -> "Prompt":
    """The prompt for `query` with where each exemplar starts, so whole exemplars can be dropped from the start
    when it is too long (flanx.evaluation.lengths.fit). zero_shot: the exemplars are left out of the prompt;
    they still size the decode budget."""
    parts, starts = [header] if header else [], []
    offset = len(header) + len(self.separator) if header else 0
    for block in [*(() if zero_shot else (self.shot(s.question, s.answer) for s in shots)), self.shot(query, lead)]:
      starts.append(offset)
      parts.append(block)
      offset += len(block) + len(self.separator)
    return Prompt(self.separator.join(parts), tuple(starts), tuple(s.answer for s in shots))

  @property
  def stop(self) -> str:
    """Where an output that runs on into a new exemplar is cut before answer extraction."""
    return "\n" + self.question_prefix.strip()


QA = PromptFormat()


def parse_qa_prompt(text: str, fmt: PromptFormat = QA) -> tuple[str, list[Shot]]:
  """Splits a released few-shot prompt (BBH cot-prompts/*.txt, Flan's mmlu-cot.json) into header and shots.

  Raises ValueError (the caller names the file) when a block is not `{q}question\\n{a}answer`.
  """
  blocks = text.strip("\n").split(fmt.separator + fmt.question_prefix)
  header, shots = blocks[0], []
  if header.startswith(fmt.question_prefix):  # no header at all
    header, blocks = "", [header[len(fmt.question_prefix):]] + blocks[1:]
  else:
    blocks = blocks[1:]
  for i, block in enumerate(blocks):
    question, sep, answer = block.partition("\n" + fmt.answer_prefix)
    if not sep:
      raise ValueError(f"exemplar {i + 1} has no {fmt.answer_prefix!r} line")
    shots.append(Shot(question, answer))
  return header.strip(), shots
