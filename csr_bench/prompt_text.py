"""The LLaVA-1.5 / CSR prompt vocabulary: fixed texts that task prompts, CSR's prompt set and the
world's training data must spell identically (a model trained on one wording is evaluated on it)."""

import random

# LLaVA-1.5's answer-format suffixes (its evaluation scripts and training data).
SHORT_SUFFIX = "\nAnswer the question using a single word or phrase."
LETTER_SUFFIX = "\nAnswer with the option's letter from the given choices directly."
LETTERS = "ABCDEFGHIJ"  # multiple-choice option labels, in order

# CHAIR's instruction (the CSR paper's captioning prompt).
DETAIL_PROMPT = "Please describe this image in detail."

# The distinct questions of the CSR reference's prompt file, in order of first appearance.
DESCRIPTION_QUESTIONS = (
    "What do you see happening in this image?",
    "What do you think is going on in this snapshot?",
    "Can you elaborate on the elements of the picture provided?",
    "Describe the following image.",
    "What's happening in the scene?",
    "Analyze the image in a comprehensive and detailed manner.",
    "Write a detailed description of the given image.",
    "What is this photo about'?",  # sic, as in the reference data
    "Explain the visual content of the image in great detail.",
    "What are the key elements in this picture?",
    "Can you describe the main features of this image for me?",
)


def question_draw(count: int, seed: int) -> tuple[list[str], random.Random]:
    """CSR's prompt draw (methods/prompts.py): ``random.Random(seed)`` gives each of ``count`` images,
    in their sorted order, one of the description questions, and the same generator then shuffles the
    prompt set. Both are returned, so whatever replays CSR's draw (SIMA's prompt draw, the world's
    preference sets) gets CSR's questions and images."""
    rng = random.Random(seed)
    return [rng.choice(DESCRIPTION_QUESTIONS) for _ in range(count)], rng
