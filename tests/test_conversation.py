from csr_bench.models.conversation import llava_v1_prompt


def test_vicuna_v1_prompt_matches_llava_get_prompt():
    # LLaVA's conv_vicuna_v1.get_prompt() for messages [(USER, "<image>\nQ"), (ASSISTANT, None)]
    expected = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                "helpful, detailed, and polite answers to the user's questions. USER: <image>\n"
                "Is there a dog in the image?\nAnswer the question using a single word or phrase. ASSISTANT:")
    prompt = llava_v1_prompt("Is there a dog in the image?\nAnswer the question using a single word or phrase.")
    assert prompt == expected
