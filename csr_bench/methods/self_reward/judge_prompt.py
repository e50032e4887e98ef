"""The LLM-as-a-Judge prompt of Self-Rewarding Language Models (Yuan et al., 2024, arXiv 2401.10020,
Figure 2), as printed: typographic apostrophes and quotes (’ “ ”) included.

No code was released with the paper, so the text is transcribed from the figure. Independent copies
read (they agree word for word; they differ only in where the PDF wraps lines, which we do not copy):
a later paper's appendix that reprints it ("Prompt to evaluate models' instruction-following
capability from Yuan et al. [2024]"), a paper summary blog, and two open-source reimplementations
(one of them with its "Score: {{ reward }}" parsing template). A further copy is a rewrite (lower-case
"score:", an added rule against repetition) and is not followed. Where copies differ in blank lines we
follow the figure's blocks: the criteria, a blank line, "User:" and the response on two lines, a blank
line, the two closing instructions, a blank line, the closing remark.
tests/fixtures/self_reward_judge_prompt.txt pins the filled text.
"""

from __future__ import annotations

INSTRUCTION_SLOT = "<INSTRUCTION_HERE>"
RESPONSE_SLOT = "<RESPONSE_HERE>"

JUDGE_PROMPT = (
    "Review the user’s question and the corresponding response using the additive 5-point scoring system "
    "described below. Points are accumulated based on the satisfaction of each criterion:\n"
    "- Add 1 point if the response is relevant and provides some information related to the user’s inquiry, "
    "even if it is incomplete or contains some irrelevant content.\n"
    "- Add another point if the response addresses a substantial portion of the user’s question, but does not "
    "completely resolve the query or provide a direct answer.\n"
    "- Award a third point if the response answers the basic elements of the user’s question in a useful way, "
    "regardless of whether it seems to have been written by an AI Assistant or if it has elements typically "
    "found in blogs or search results.\n"
    "- Grant a fourth point if the response is clearly written from an AI Assistant’s perspective, addressing "
    "the user’s question directly and comprehensively, and is well-organized and helpful, even if there is "
    "slight room for improvement in clarity, conciseness or focus.\n"
    "- Bestow a fifth point for a response that is impeccably tailored to the user’s question by an AI "
    "Assistant, without extraneous information, reflecting expert knowledge, and demonstrating a high-quality, "
    "engaging, and insightful answer.\n"
    "\n"
    f"User: {INSTRUCTION_SLOT}\n"
    f"<response>{RESPONSE_SLOT}</response>\n"
    "\n"
    "After examining the user’s instruction and the response:\n"
    "- Briefly justify your total score, up to 100 words.\n"
    "- Conclude with the score using the format: “Score: <total points>”\n"
    "\n"
    "Remember to assess from the AI Assistant perspective, utilizing web search knowledge as necessary. To "
    "evaluate the response in alignment with this additive scoring model, we’ll systematically attribute "
    "points based on the outlined criteria."
)


def judge_prompt(question: str, response: str) -> str:
    """The judge's prompt for one response: the question and the response put in the figure's slots
    (in one pass, so a response that happens to contain a slot's text is never filled again)."""
    before, _, after = JUDGE_PROMPT.partition(INSTRUCTION_SLOT)
    middle, _, end = after.partition(RESPONSE_SLOT)
    return f"{before}{question}{middle}{response}{end}"
