"""LLaVA-1.5's conversation template (``conv_vicuna_v1`` of the LLaVA repository), built here
because the llava-hf chat template omits the system message. Details: docs/models.md,
"csr_bench/models/conversation.py".
"""

VICUNA_V1_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


def llava_v1_prompt(user_text: str, image_token: str = "<image>") -> str:
    """The generation prompt for one image and one user turn, ending at "ASSISTANT:"."""
    return f"{VICUNA_V1_SYSTEM} USER: {image_token}\n{user_text} ASSISTANT:"
