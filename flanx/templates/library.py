"""The project's own instruction templates, about ten per task type.

A template is an input pattern and a target pattern over the task type's fields (str.format placeholders).
Answer options are not part of the pattern: the Opt formats append them (see `options`), so the same
template serves the Opt and NoOpt formats. Chain-of-thought targets always end in `ANSWER_PHRASE answer.`,
which is what the held-out CoT evaluators extract.
"""

import dataclasses

ANSWER_PHRASE = "So the answer is"


@dataclasses.dataclass(frozen=True)
class Template:
  inputs: str
  targets: str = "{answer}"


@dataclasses.dataclass(frozen=True)
class TaskType:
  """The fields a raw example of this type carries, and whether it has answer options."""
  fields: tuple[str, ...]
  has_options: bool = False


def _t(*patterns: str | tuple[str, str]) -> tuple[Template, ...]:
  return tuple(Template(*p) if isinstance(p, tuple) else Template(p) for p in patterns)


TASK_TYPES: dict[str, TaskType] = {
    "nli": TaskType(("premise", "hypothesis", "answer"), has_options=True),
    "mcqa": TaskType(("question", "answer"), has_options=True),
    "extractive_qa": TaskType(("context", "question", "answer")),
    "closed_book_qa": TaskType(("question", "answer")),
    "summarization": TaskType(("text", "answer")),
    "translation": TaskType(("text", "source_lang", "target_lang", "answer")),
    "sentiment": TaskType(("text", "answer"), has_options=True),
    "paraphrase": TaskType(("sentence1", "sentence2", "answer"), has_options=True),
    "coreference": TaskType(("text", "answer"), has_options=True),
    "commonsense": TaskType(("context", "answer"), has_options=True),
    "dialog": TaskType(("context", "answer")),
    "program_synthesis": TaskType(("question", "answer")),
    "cot": TaskType(("question", "rationale", "answer")),
    "niv2": TaskType(("definition", "input", "answer")),
    # P3 examples arrive already prompted by their own template (the P3 prompt name is the template).
    "prompted": TaskType(("inputs", "answer"), has_options=True),
}

_LIBRARY: dict[str, tuple[Template, ...]] = {
    "nli": _t(
        "Premise: {premise}\nHypothesis: {hypothesis}\nDoes the premise entail the hypothesis?",
        "{premise}\n\nBased on the passage above, is it true that \"{hypothesis}\"?",
        "Read this: {premise}\nCan we conclude the following? {hypothesis}",
        "Given that \"{premise}\", does it follow that \"{hypothesis}\"?",
        "Statement one: {premise}\nStatement two: {hypothesis}\nIf statement one holds, must statement two hold too?",
        "Here is some text:\n{premise}\n\nDecide whether this claim is supported by it: {hypothesis}",
        "{premise}\nQuestion: {hypothesis} True, false, or undetermined?",
        "Suppose {premise} Would it then be correct to say that {hypothesis}",
        "Context: {premise}\n\nIs the sentence \"{hypothesis}\" implied by the context?",
        "Think about whether the first text supports the second.\nText: {premise}\nClaim: {hypothesis}",
    ),
    "mcqa": _t(
        "{question}",
        "Answer the following question.\n{question}",
        "Question: {question}\nWhat is the correct answer?",
        "Pick the best answer to this question: {question}",
        "{question}\nWhich answer is right?",
        "Here is a multiple-choice question.\n\n{question}",
        "Test question: {question}",
        "Choose the most suitable answer.\n{question}",
        "{question}\n\nSelect the correct response.",
        "I have a question for you: {question}",
    ),
    "extractive_qa": _t(
        "{context}\n\nAnswer using a span of the text above: {question}",
        "Read the passage and answer the question.\n\nPassage: {context}\nQuestion: {question}",
        "Passage:\n{context}\n\nQ: {question}",
        "{question}\n\nThe answer can be found in this text:\n{context}",
        "Here is an article:\n{context}\n\nWhat is the answer to \"{question}\"?",
        "Context: {context}\nUsing only the context, answer: {question}",
        "Find the answer to the question in the paragraph.\nParagraph: {context}\nQuestion: {question}",
        "{context}\n{question}",
        "Background: {context}\n\nNow answer this: {question}",
        "Look at this text and extract the answer to \"{question}\".\n\n{context}",
    ),
    "closed_book_qa": _t(
        "{question}",
        "Answer this question: {question}",
        "Q: {question}\nWhat is the answer?",
        "Trivia time! {question}",
        "Please answer the following: {question}",
        "{question}\nGive a short answer.",
        "Here is a question about the world: {question}",
        "Question: {question}",
        "Without looking it up, answer: {question}",
        "Quick question: {question}",
    ),
    "summarization": _t(
        "Summarize this text:\n\n{text}",
        "{text}\n\nWhat is a short summary of the passage above?",
        "Write a brief summary.\n\n{text}",
        "Text: {text}\n\nSummary:",
        "Condense the following into a few sentences:\n{text}",
        "{text}\nTL;DR:",
        "Here is an article. Give me its main points in short form.\n\n{text}",
        "In one or two sentences, what is this about?\n{text}",
        "Read the document and write a summary of it.\nDocument: {text}",
        "{text}\n\nSum up the text above.",
    ),
    "translation": _t(
        "Translate to {target_lang}:\n\n{text}",
        "{text}\n\nTranslate the text above from {source_lang} to {target_lang}.",
        "How do you say this in {target_lang}?\n{text}",
        "{source_lang}: {text}\n{target_lang}:",
        "Render this {source_lang} sentence in {target_lang}: {text}",
        "Give the {target_lang} version of: {text}",
        "Please translate from {source_lang} into {target_lang}.\n\n{text}",
        "Text in {source_lang}: {text}\nWhat is it in {target_lang}?",
        "{text}\nIn {target_lang}, that would be:",
        "I need this in {target_lang}: \"{text}\"",
    ),
    "sentiment": _t(
        "{text}\n\nWhat is the sentiment of this text?",
        "Review: {text}\nIs this review positive or negative?",
        "How does the writer feel?\n\n{text}",
        "Text: {text}\nSentiment:",
        "Decide the tone of the following: {text}",
        "{text}\nDid the author like it?",
        "Classify the sentiment of this sentence: {text}",
        "Here is a piece of writing:\n{text}\n\nIs the attitude favourable or not?",
        "What mood does this express? {text}",
        "Read the text and label its sentiment.\n{text}",
    ),
    "paraphrase": _t(
        "Sentence 1: {sentence1}\nSentence 2: {sentence2}\nDo these mean the same thing?",
        "\"{sentence1}\" and \"{sentence2}\"\n\nAre these two paraphrases?",
        "Is the second sentence a rewording of the first?\n{sentence1}\n{sentence2}",
        "First: {sentence1}\nSecond: {sentence2}\nSame meaning?",
        "Compare these two texts.\nA: {sentence1}\nB: {sentence2}\nDo they say the same thing?",
        "{sentence1}\n{sentence2}\nWould you say these are equivalent?",
        "Does \"{sentence1}\" express the same idea as \"{sentence2}\"?",
        "Check whether these two questions or sentences are duplicates:\n1. {sentence1}\n2. {sentence2}",
        "Here are two sentences: {sentence1} / {sentence2}\nIs one a paraphrase of the other?",
        "Text one: {sentence1}\n\nText two: {sentence2}\n\nAre they semantically equivalent?",
    ),
    "coreference": _t(
        "{text}\n\nWhat does the blank or the pronoun refer to?",
        "Fill in the blank: {text}",
        "Resolve the reference in this sentence: {text}",
        "Sentence: {text}\nWho or what is being referred to?",
        "{text}\nWhich entity fits?",
        "Read the sentence and pick the right referent.\n{text}",
        "In the following, what is the missing or referred-to entity?\n\n{text}",
        "Complete the sentence sensibly: {text}",
        "Who does it mean here? {text}",
        "Text: {text}\n\nIdentify the referent.",
    ),
    "commonsense": _t(
        "{context}\n\nWhat is the most plausible continuation?",
        "Use common sense: {context}",
        "{context}\nWhat happens next?",
        "Situation: {context}\nWhich is most likely?",
        "Pick the most sensible option.\n\n{context}",
        "Think about everyday life. {context}",
        "{context}\n\nWhich choice makes the most sense?",
        "Here is a scenario: {context}\nWhat would a reasonable person expect?",
        "Complete the description: {context}",
        "Given the context below, choose the best ending.\n{context}",
    ),
    "dialog": _t(
        "{context}\n\nWhat should the next turn be?",
        "Continue this conversation:\n{context}",
        "Dialogue so far:\n{context}\n\nReply:",
        "Here is a chat.\n{context}\nWrite the next response.",
        "{context}\nNext:",
        "Conversation:\n{context}\n\nWhat comes next in the conversation?",
        "Read the exchange and respond as the next speaker.\n\n{context}",
        "Given this dialog history, produce the following turn.\n{context}",
        "{context}\n\nYour turn:",
        "Write a fitting reply to the last message.\n{context}",
    ),
    "program_synthesis": _t(
        "Write a Python function for this task: {question}",
        "{question}\n\nSolve it in Python.",
        "Task: {question}\nCode:",
        "Implement the following in Python.\n\n{question}",
        "Here is a programming problem: {question}\nWrite the solution.",
        "{question}\nPython code:",
        "Please write code that does this: {question}",
        "Problem statement:\n{question}\n\nProgram:",
        "Write a short program. {question}",
        "Give a Python implementation: {question}",
    ),
    "cot": _t(
        ("{question}\nThink it through step by step.", "{rationale} " + ANSWER_PHRASE + " {answer}."),
        ("Answer the question and explain your reasoning.\n{question}", "{rationale} " + ANSWER_PHRASE + " {answer}."),
        ("{question}\n\nWork it out before answering.", "{rationale} " + ANSWER_PHRASE + " {answer}."),
        ("Question: {question}\nReasoning:", "{rationale} " + ANSWER_PHRASE + " {answer}."),
        ("Let us reason about this. {question}", "{rationale} " + ANSWER_PHRASE + " {answer}."),
        ("{question}\nShow your steps, then give the answer.", "{rationale} " + ANSWER_PHRASE + " {answer}."),
        ("Solve this carefully: {question}", "{rationale} " + ANSWER_PHRASE + " {answer}."),
        ("Consider the following. {question}\nExplain, then answer.", "{rationale} " + ANSWER_PHRASE + " {answer}."),
        ("Problem: {question}\n\nWalk through the logic.", "{rationale} " + ANSWER_PHRASE + " {answer}."),
        ("{question}\nWhat is the answer? Reason first.", "{rationale} " + ANSWER_PHRASE + " {answer}."),
    ),
    "niv2": _t(
        "{definition}\n\n{input}",
        "Instructions: {definition}\nInput: {input}\nOutput:",
        "{definition}\n\nHere is the input: {input}",
        "Task description: {definition}\n\n{input}\n\nAnswer:",
        "Follow the instructions.\n{definition}\n\nInput:\n{input}",
        "You are given a task. {definition}\n{input}",
        "{input}\n\nInstructions for the text above: {definition}",
        "Definition: {definition}\nExample input: {input}\nResponse:",
        "Do the following task. {definition}\n\nProblem: {input}",
        "{definition}\nQ: {input}\nA:",
    ),
    "prompted": _t("{inputs}"),
}

# Input inversion: the model sees the original target and must produce the original input.
INVERSION: tuple[Template, ...] = _t(
    ("Here is an answer: {answer}\nWrite a request that it answers.", "{inputs}"),
    ("{answer}\n\nWhat prompt or question could have produced this response?", "{inputs}"),
    ("Work backwards. The output was: {answer}\nWhat was the input?", "{inputs}"),
    ("Given the response \"{answer}\", write the instruction that led to it.", "{inputs}"),
    ("Response: {answer}\nInstruction:", "{inputs}"),
    ("Invent a task whose correct output is the following.\n\n{answer}", "{inputs}"),
    ("Answer: {answer}\nQuestion:", "{inputs}"),
    ("Reconstruct the prompt for this reply: {answer}", "{inputs}"),
    ("{answer}\nThis is a reply. Write what was asked.", "{inputs}"),
    ("The result is \"{answer}\". Write the input that yields it.", "{inputs}"),
)


def templates_for(task_type: str) -> tuple[Template, ...]:
  return _LIBRARY[task_type]


assert set(_LIBRARY) == set(TASK_TYPES), "every task type needs templates"
