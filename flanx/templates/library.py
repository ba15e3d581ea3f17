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
    # CoT input inversion (the public collection's separate CoT-II tasks): the question, the reasoning, or both
    # with the answer, recovered from the other parts.
    "cot_inversion": TaskType(("question", "rationale", "answer")),
    # Dialog input inversion (Dialog-II): the conversation so far, written from the turn that follows it.
    "dialog_inversion": TaskType(("context", "answer")),
    "niv2": TaskType(("definition", "input", "answer")),
    "text_classification": TaskType(("text", "answer"), has_options=True),
    "acceptability": TaskType(("sentence", "answer"), has_options=True),
    "data_to_text": TaskType(("data", "answer")),
    "pronoun_resolution": TaskType(("sentence", "pronoun", "answer"), has_options=True),
    # `problem` names what was removed from the text: "punctuation", "capital letters", "spaces between words".
    "text_repair": TaskType(("text", "problem", "answer")),
    "next_word": TaskType(("text", "answer")),
    "math": TaskType(("question", "answer")),
    "answer_check": TaskType(("context", "question", "candidate", "answer"), has_options=True),
    "contains_answer": TaskType(("question", "sentence", "answer"), has_options=True),
    "similarity": TaskType(("sentence1", "sentence2", "answer"), has_options=True),
    "word_sense": TaskType(("word", "sentence1", "sentence2", "answer"), has_options=True),
    # P3 examples arrive already prompted by their own template (the P3 prompt name is the template).
    "prompted": TaskType(("inputs", "answer"), has_options=True),
}

_COT_TARGET = "{rationale} " + ANSWER_PHRASE + " {answer}."

_LIBRARY: dict[str, tuple[Template, ...]] = {
    "nli": _t(
        "{premise}\n\nGiven only the text above, is the following statement true?\n{hypothesis}",
        "Assume this is accurate: {premise}\nWould \"{hypothesis}\" then have to be true as well?",
        "First passage: {premise}\nSecond passage: {hypothesis}\nIs the second passage supported by the first?",
        "Does the claim \"{hypothesis}\" follow logically from the text below?\n\n{premise}",
        "{premise}\nIf everything above is correct, what about this statement: {hypothesis}",
        "Evidence:\n{premise}\n\nStatement to check:\n{hypothesis}\n\nIs the statement backed up by the evidence?",
        "Here is what we know: {premise}\nFrom that alone, can \"{hypothesis}\" be inferred?",
        "{hypothesis}\n\nIs that sentence entailed by this one?\n{premise}",
        "Logic check. Text: {premise}\nClaim: {hypothesis}\nDoes the text guarantee the claim?",
        "Someone wrote: \"{premise}\" Judging from that, is it right to say \"{hypothesis}\"?",
    ),
    "mcqa": _t(
        "{question}",
        "Pick the right answer.\n\n{question}",
        "{question}\nWhich choice is correct?",
        "Multiple choice: {question}",
        "Think about this question and choose well: {question}",
        "{question}\n\nSelect the best answer.",
        "Here is a quiz item.\n{question}",
        "Which answer fits best? {question}",
        "Consider the question below.\n{question}\nWhat should the answer be?",
        "Exam question: {question}",
    ),
    "extractive_qa": _t(
        "{context}\n\nUse the passage above to respond: {question}",
        "Read this and reply to the question that follows.\n\n{context}\n\n{question}",
        "Passage:\n{context}\n\nQ: {question}",
        "{question}\n\nYou will find what you need in this text:\n{context}",
        "Article: {context}\n\nWhat does the article say in reply to \"{question}\"?",
        "Given this background, respond to the question.\n{context}\nQuestion to address: {question}",
        "Text: {context}\n\n{question} (reply using the text)",
        "{context}\n{question}",
        "Here is some information:\n{context}\n\nNow deal with this: {question}",
        "Look through the paragraph for the reply to \"{question}\".\n\n{context}",
    ),
    "closed_book_qa": _t(
        "{question}",
        "Reply with the answer: {question}",
        "Q: {question}\nShort answer:",
        "General knowledge check. {question}",
        "{question}\nRespond briefly.",
        "From memory, what is the answer? {question}",
        "Here's something to answer: {question}",
        "I was wondering: {question}",
        "{question}\n\nWhat would you say?",
        "Fact question - {question}",
    ),
    "summarization": _t(
        "{text}\n\nGive a brief summary of the passage above.",
        "Condense this into a few sentences:\n\n{text}",
        "What are the key points of the following?\n{text}",
        "Document:\n{text}\n\nShort version:",
        "{text}\nTL;DR:",
        "Boil the following text down to its essentials.\n\n{text}",
        "Read the text and state its gist in one or two sentences.\n{text}",
        "{text}\n\nIn short, what is this about?",
        "Produce a concise overview of this text: {text}",
        "Here is a long piece of writing:\n{text}\n\nNow shorten it to a synopsis.",
    ),
    "translation": _t(
        "{text}\n\nRender the text above in {target_lang}.",
        "Put this {source_lang} text into {target_lang}:\n{text}",
        "How would a {target_lang} speaker say this?\n{text}",
        "{source_lang}: {text}\n{target_lang}:",
        "Give me the {target_lang} equivalent of: {text}",
        "Convert from {source_lang} to {target_lang}.\n\n{text}",
        "Source ({source_lang}): {text}\nTarget ({target_lang}):",
        "{text}\nWhat is that in {target_lang}?",
        "I need a {target_lang} version of this {source_lang} sentence: \"{text}\"",
        "Language task: rewrite \"{text}\" in {target_lang}.",
    ),
    "sentiment": _t(
        "{text}\n\nIs the feeling expressed here positive or negative?",
        "What attitude does the writer take in this text?\n{text}",
        "Text: {text}\nTone:",
        "Judge the mood of the following: {text}",
        "{text}\nDid the author come away happy?",
        "Label the sentiment of this passage.\n\n{text}",
        "Here is a piece of writing:\n{text}\n\nIs its outlook favourable or unfavourable?",
        "How would you describe the emotion behind this? {text}",
        "Decide the polarity of this opinion: {text}",
        "{text}\n\nWould you call that an approving or a disapproving comment?",
    ),
    "paraphrase": _t(
        "Sentence A: {sentence1}\nSentence B: {sentence2}\nDo A and B say the same thing?",
        "\"{sentence1}\"\n\"{sentence2}\"\nAre these two equivalent in meaning?",
        "Is the second line a restatement of the first?\n{sentence1}\n{sentence2}",
        "One: {sentence1}\nTwo: {sentence2}\nSame meaning or not?",
        "Compare the two texts below.\n- {sentence1}\n- {sentence2}\nDo they convey identical content?",
        "{sentence1}\n{sentence2}\nCould one of these replace the other without changing what is meant?",
        "Would you say \"{sentence1}\" means the same as \"{sentence2}\"?",
        "Check whether these two are duplicates of each other:\n1) {sentence1}\n2) {sentence2}",
        "Here is a pair: {sentence1} || {sentence2}\nIs one a rewording of the other?",
        "First text: {sentence1}\n\nSecond text: {sentence2}\n\nDo they mean the same?",
    ),
    "coreference": _t(
        "{text}\n\nWhat belongs in the blank, or who is being referred to?",
        "Fill the gap in this sentence: {text}",
        "Work out the reference in: {text}",
        "Sentence: {text}\nWhich entity is meant?",
        "{text}\nWho or what fits here?",
        "Choose the right referent for the sentence below.\n{text}",
        "Resolve the missing piece.\n\n{text}",
        "Complete this sensibly: {text}",
        "Who is it about here? {text}",
        "Text: {text}\n\nName the entity that makes this correct.",
    ),
    "commonsense": _t(
        "{context}\n\nWhich continuation is most believable?",
        "Use everyday reasoning: {context}",
        "{context}\nWhat most likely comes next?",
        "Scenario: {context}\nWhat is the most probable outcome?",
        "Choose the most sensible option.\n\n{context}",
        "Think about how the world usually works. {context}",
        "{context}\n\nWhich option is most reasonable?",
        "Picture this: {context}\nWhat would you expect?",
        "Finish the description: {context}",
        "Given the situation below, pick the best ending.\n{context}",
    ),
    "dialog": _t(
        "{context}\n\nWhat should the next speaker say?",
        "Carry on this conversation:\n{context}",
        "Conversation so far:\n{context}\n\nNext line:",
        "Here is a chat log.\n{context}\nWrite the next message.",
        "{context}\nReply:",
        "Chat:\n{context}\n\nHow might the conversation continue?",
        "Read the exchange and answer as the next person to speak.\n\n{context}",
        "Given this dialogue history, write the following turn.\n{context}",
        "{context}\n\nYour response:",
        "Write a suitable reply to the last message below.\n{context}",
    ),
    "program_synthesis": _t(
        "Write a Python function that does the following: {question}",
        "{question}\n\nSolve this with Python code.",
        "Programming task: {question}\nSolution:",
        "Implement this in Python.\n\n{question}",
        "Here is a coding problem: {question}\nWrite a program for it.",
        "{question}\nPython:",
        "Could you code this up? {question}",
        "Problem:\n{question}\n\nCode:",
        "Write a short script. {question}",
        "Provide a Python implementation for this: {question}",
    ),
    "cot": _t(
        ("{question}\nReason it through one step at a time.", _COT_TARGET),
        ("Explain your reasoning, then answer.\n{question}", _COT_TARGET),
        ("{question}\n\nWork it out before you answer.", _COT_TARGET),
        ("Question: {question}\nReasoning:", _COT_TARGET),
        ("Let's reason about this carefully. {question}", _COT_TARGET),
        ("{question}\nShow your working, then give the answer.", _COT_TARGET),
        ("Solve this, thinking aloud: {question}", _COT_TARGET),
        ("Consider the following. {question}\nExplain, and then answer.", _COT_TARGET),
        ("Problem: {question}\n\nWalk through the logic.", _COT_TARGET),
        ("{question}\nWhat is the answer? Give reasons first.", _COT_TARGET),
    ),
    "cot_inversion": _t(
        # reasoning + answer -> question
        ("Reasoning: {rationale}\nConclusion: {answer}\n\nWhich question was being answered?", "{question}"),
        ("Here is a worked explanation ending in the answer {answer}.\n{rationale}\nState the question it solves.",
         "Question: {question}"),
        ("{rationale}\nHence: {answer}.\nRecover the question behind this argument.", "{question}"),
        # question + answer -> reasoning
        ("{question}\nThe answer is known to be {answer}. Show the reasoning that gets there.", "{rationale}"),
        ("Why is \"{answer}\" right for the following?\n{question}\nGive the steps.", "Steps: {rationale}"),
        ("Justify this answer one step at a time.\nProblem: {question}\nAnswer: {answer}", "{rationale}"),
        # reasoning -> question + answer
        ("Invent the question and answer that this reasoning supports:\n{rationale}",
         "Question: {question}\nAnswer: {answer}"),
        ("{rationale}\n\nWhat problem does this reasoning solve, and what does it conclude?",
         "{question}\nIt concludes: {answer}"),
        # answer -> question + reasoning
        ("Make up a problem whose answer is {answer}, and explain how to reach it.",
         "Problem: {question}\nExplanation: {rationale}"),
        ("The final answer is: {answer}\nWrite a question for it along with a line of reasoning.",
         "{question}\nReasoning: {rationale}"),
    ),
    "dialog_inversion": _t(
        ("This line ends a conversation: \"{answer}\"\nWrite the conversation that leads up to it.", "{context}"),
        ("{answer}\n\nImagine the exchange that came before this reply and write it out.", "{context}"),
        ("Write a chat whose natural next turn would be: {answer}", "{context}"),
        ("Reply: {answer}\nWhat was said before it?", "{context}"),
        ("Someone answered \"{answer}\". Reconstruct the dialogue preceding that answer.", "{context}"),
        ("Compose the earlier turns of a dialogue that this message responds to.\n{answer}", "{context}"),
        ("Next turn: {answer}\nDialogue so far:", "{context}"),
        ("Given the response below, produce a plausible conversation history.\n\n{answer}", "{context}"),
        ("A speaker said: {answer}\nWhat conversation prompted it?", "{context}"),
        ("Work backwards from this turn to the talk that preceded it: {answer}", "{context}"),
    ),
    "niv2": _t(
        "{definition}\n\n{input}",
        "Task: {definition}\n\n{input}\n\nResult:",
        "{definition}\n\nHere is what to work on: {input}",
        "Instruction: {definition}\n{input}\nResponse:",
        "Follow these directions.\n{definition}\n\nData:\n{input}",
        "You have a job to do. {definition}\n{input}",
        "{input}\n\nDirections for the text above: {definition}",
        "Guidelines: {definition}\nTo process: {input}\nReply:",
        "Carry out this task. {definition}\n\nItem: {input}",
        "{definition}\nGiven: {input}\nYour output:",
    ),
    "text_classification": _t(
        "{text}\n\nWhich category does this belong to?",
        "Sort this into the right class: {text}",
        "What kind of text is this?\n{text}",
        "Text: {text}\nCategory:",
        "Classify the following.\n\n{text}",
        "{text}\nWhat label fits best?",
        "Assign a category to this item: {text}",
        "Here is a piece of text:\n{text}\n\nWhat is its topic or type?",
        "Decide which class this falls under. {text}",
        "{text}\n\nGive the best-fitting category.",
    ),
    "acceptability": _t(
        "{sentence}\n\nIs this sentence grammatical?",
        "Would a fluent speaker accept this sentence? {sentence}",
        "Check the grammar: {sentence}",
        "Sentence: {sentence}\nAcceptable English?",
        "Is the following well-formed?\n{sentence}",
        "{sentence}\nDoes that sound like correct English?",
        "Judge the grammaticality of this sentence.\n\n{sentence}",
        "Here is a sentence: {sentence}\nCould it appear in careful writing as it is?",
        "Linguistic judgement needed: {sentence}",
        "{sentence}\n\nIs there anything ungrammatical about it?",
    ),
    "data_to_text": _t(
        "Write a sentence that expresses this data: {data}",
        "{data}\n\nDescribe the information above in plain language.",
        "Turn these facts into a fluent sentence.\n{data}",
        "Data: {data}\nSentence:",
        "Compose a short text that uses all of the following: {data}",
        "Here are some facts: {data}\nWrite them up as prose.",
        "{data}\nExpress this in natural English.",
        "Verbalise the following structured input.\n\n{data}",
        "Make a readable sentence out of: {data}",
        "Given the items below, produce a description.\n{data}",
    ),
    "pronoun_resolution": _t(
        "{sentence}\n\nWho or what does \"{pronoun}\" refer to?",
        "In this sentence, what is \"{pronoun}\" standing for? {sentence}",
        "Sentence: {sentence}\nPronoun: {pronoun}\nReferent:",
        "Resolve the pronoun \"{pronoun}\" in the following.\n{sentence}",
        "{sentence}\nWhich noun does \"{pronoun}\" point back to?",
        "Read: {sentence}\n\nWhom or what does the word \"{pronoun}\" mean here?",
        "Find the antecedent of \"{pronoun}\": {sentence}",
        "{sentence}\n\nHere, \"{pronoun}\" means which one?",
        "Coreference question. \"{pronoun}\" in \"{sentence}\" refers to whom?",
        "Identify what \"{pronoun}\" stands for.\n\n{sentence}",
    ),
    "text_repair": _t(
        "This text is missing its {problem}. Put it back.\n\n{text}",
        "{text}\n\nRestore the {problem} of the text above.",
        "Fix the {problem}: {text}",
        "Here is some text without its {problem}:\n{text}\nWrite it out correctly.",
        "Repair the {problem} in the following.\n{text}",
        "{text}\nAdd back the {problem}.",
        "Someone stripped the {problem} from this text. Reconstruct it: {text}",
        "Correct this text (the {problem} got lost): {text}",
        "Input with no {problem}: {text}\nCorrected:",
        "Please mend the {problem}.\n\n{text}",
    ),
    "next_word": _t(
        "{text}\n\nWhat word comes next?",
        "Predict the final word: {text}",
        "Continue with a single word.\n{text}",
        "Text: {text}\nNext word:",
        "{text} ___\nFill in the last word.",
        "Guess the word that ends this passage.\n\n{text}",
        "Which word most likely follows? {text}",
        "{text}\nOne more word:",
        "Here is an unfinished passage:\n{text}\n\nSupply the missing final word.",
        "Complete with one word: {text}",
    ),
    "math": _t(
        "{question}",
        "Compute the answer: {question}",
        "{question}\nSolution:",
        "Maths exercise. {question}",
        "Work this out: {question}",
        "{question}\n\nGive the result.",
        "Here is an arithmetic or algebra problem.\n{question}",
        "Find the value. {question}",
        "Problem to solve:\n{question}",
        "{question}\nWhat do you get?",
    ),
    "answer_check": _t(
        "{context}\n\nQuestion: {question}\nProposed answer: {candidate}\nIs the proposed answer correct?",
        "Read the passage.\n{context}\n\nSomeone replied to \"{question}\" with \"{candidate}\". Were they right?",
        "Passage: {context}\nQ: {question}\nCandidate: {candidate}\nCorrect?",
        "{context}\n\nDoes \"{candidate}\" respond correctly to \"{question}\", according to the text?",
        "Given the text below, check this reply.\nQuestion - {question}\nReply - {candidate}\n\n{context}",
        "{context}\nIf asked \"{question}\", would \"{candidate}\" be a valid reply?",
        "Fact-check a reply against a passage.\n\n{context}\n\n{question} -> {candidate}",
        "Text:\n{context}\n\nIs \"{candidate}\" the right reply to \"{question}\"?",
        "{context}\n\nQuestion: {question}\nIs \"{candidate}\" acceptable here?",
        "Here is a reading passage, a question about it and a possible reply.\n{context}\n{question}\n{candidate}\n"
        "Is the reply right?",
    ),
    "contains_answer": _t(
        "Question: {question}\nSentence: {sentence}\nDoes the sentence settle the question?",
        "Can \"{question}\" be resolved from this sentence? {sentence}",
        "{sentence}\n\nDoes this hold what is asked for here: {question}",
        "Check whether the sentence below responds to the question.\n{question}\n{sentence}",
        "Is \"{sentence}\" a good source for \"{question}\"?",
        "{question}\n\nDoes the following sentence contain what is asked for?\n{sentence}",
        "Query: {question}\nCandidate sentence: {sentence}\nRelevant?",
        "Given the sentence \"{sentence}\", is the query \"{question}\" resolved?",
        "{sentence}\nWould that sentence settle this: {question}",
        "Decide if this passage responds to the query.\nPassage: {sentence}\nQuery: {question}",
    ),
    "similarity": _t(
        "On a scale from 0 to 5, how close in meaning are these?\n{sentence1}\n{sentence2}",
        "Rate the semantic similarity (0 = unrelated, 5 = same meaning).\nA: {sentence1}\nB: {sentence2}",
        "\"{sentence1}\" vs \"{sentence2}\": similarity score from 0 to 5?",
        "{sentence1}\n{sentence2}\n\nHow similar are these two sentences, 0 to 5?",
        "Score the overlap in meaning between the two sentences below (0-5).\n1. {sentence1}\n2. {sentence2}",
        "First: {sentence1}\nSecond: {sentence2}\nSimilarity (0-5):",
        "How much do these two sentences mean the same thing? Reply 0 to 5.\n\n{sentence1}\n\n{sentence2}",
        "Give a number from 0 to 5 for how alike these are in meaning: {sentence1} / {sentence2}",
        "Sentence one: {sentence1}\nSentence two: {sentence2}\nOn 0-5, what is their semantic similarity?",
        "Compare the meaning of \"{sentence1}\" with \"{sentence2}\". "
        "Score it from 0 (nothing alike) to 5 (equivalent).",
    ),
    "word_sense": _t(
        "Is \"{word}\" used with the same meaning in both sentences?\n{sentence1}\n{sentence2}",
        "{sentence1}\n{sentence2}\n\nDoes \"{word}\" carry the same sense in each?",
        "Word: {word}\nFirst use: {sentence1}\nSecond use: {sentence2}\nSame sense?",
        "Compare how \"{word}\" is used here: (a) {sentence1} (b) {sentence2}. Is the meaning shared?",
        "In \"{sentence1}\" and in \"{sentence2}\", is {word} one and the same thing?",
        "Look at \"{word}\" in these two sentences.\n\n{sentence1}\n\n{sentence2}\n\nIs its sense identical?",
        "Word-sense check for \"{word}\":\n- {sentence1}\n- {sentence2}",
        "{sentence1}\n\n{sentence2}\n\nWould a dictionary give \"{word}\" the same definition in both?",
        "Here are two sentences that use \"{word}\". {sentence1} | {sentence2} Same sense?",
        "Decide whether \"{word}\" keeps its sense across these sentences.\n{sentence1}\n{sentence2}",
    ),
    "prompted": _t("{inputs}"),
}

# Input inversion: the model sees the original target and must produce the original input.
# Task types rendered inverted as one of their own templates (Flan 2021's datasets): not CoT or dialog (which
# have separate inversion tasks, cot_inversion and dialog_inversion), nor NIV2 or P3's prompted records (the
# public collection inverts neither).
INVERTED_TYPES: frozenset[str] = frozenset(TASK_TYPES) - {"cot", "cot_inversion", "dialog", "dialog_inversion",
                                                           "niv2", "prompted"}
INVERSION: tuple[Template, ...] = _t(
    ("Here is a response: {answer}\nWrite a prompt it could be replying to.", "{inputs}"),
    ("{answer}\n\nWhat request might have produced this reply?", "{inputs}"),
    ("Work backwards from this output: {answer}\nWhat was the input?", "{inputs}"),
    ("Given the result \"{answer}\", write the instruction that leads to it.", "{inputs}"),
    ("Output: {answer}\nOriginal prompt:", "{inputs}"),
    ("Invent a task whose correct result is the following.\n\n{answer}", "{inputs}"),
    ("Reply given: {answer}\nWhat was asked?", "{inputs}"),
    ("Reconstruct the request behind this reply: {answer}", "{inputs}"),
    ("{answer}\nThis is a reply. Write what it replies to.", "{inputs}"),
    ("The result is \"{answer}\". Write an input that yields it.", "{inputs}"),
)


def templates_for(task_type: str) -> tuple[Template, ...]:
  return _LIBRARY[task_type]


assert set(_LIBRARY) == set(TASK_TYPES), "every task type needs templates"
