"""LLaVA-1.5's conversation template (``conv_vicuna_v1`` of the LLaVA repository).

LLaVA-1.5's own evaluation scripts, which produced the paper's numbers, build prompts with this
template. Its SeparatorStyle.TWO with sep " " gives, for one user turn awaiting the answer,
``system + " USER: " + message + " ASSISTANT:"``, with the message "<image>\n" + question.
The llava-hf processor's chat template omits the system message, so we build the text ourselves
to score exactly as the paper did; its token ids are built as LLaVA's ``tokenizer_image_token``
(``csr_bench.models.llava.llava_prompt_ids``).
"""

VICUNA_V1_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


def llava_v1_prompt(user_text: str, image_token: str = "<image>") -> str:
    """The generation prompt for one image and one user turn, ending at "ASSISTANT:"."""
    return f"{VICUNA_V1_SYSTEM} USER: {image_token}\n{user_text} ASSISTANT:"
