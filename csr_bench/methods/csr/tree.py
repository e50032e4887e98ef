"""Candidate trees of the CSR search: sentence nodes with their scores, serialised for resume.
Details (where a response ends, what a node holds): docs/csr.md, "csr_bench/methods/csr/tree.py".
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterator


@dataclass
class SentenceNode:
    text: str  # the sentence as appended to the parent's response (leading space included)
    token_ids: list[int]
    logprob: float  # summed token log-probabilities of the sentence (the paper's R_T)
    beam_score: float  # length-normalised beam score, diversity penalty included (the reference's R_T)
    finished: bool  # a complete response ends here (end-of-sequence, length or sentence cap); may have children
    depth: int  # 1 for the first sentence
    image_score: float | None = None  # R_I: 100 x CLIP cosine(image, sentence); None until scored
    cumulative_beam_score: float = 0.0  # sum of beam scores from the root (the reference's ranking key)
    children: list["SentenceNode"] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The fields in order, each node converted once (``asdict`` would copy every subtree again
        at each level of the tree)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "children"}
        data["token_ids"] = list(self.token_ids)
        data["children"] = [child.to_dict() for child in self.children]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SentenceNode":
        children = [cls.from_dict(child) for child in data.get("children", [])]
        return cls(**{**data, "children": children})


@dataclass
class CandidateTree:
    """All candidate responses for one prompt (image + question)."""

    prompt_id: str
    image: str  # reference to the image (path or dataset id), as written to the preference data
    prompt: str  # the user prompt, without any chat template
    roots: list[SentenceNode] = field(default_factory=list)  # candidate first sentences

    def nodes(self) -> Iterator[SentenceNode]:
        stack = list(self.roots)
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children)

    def paths(self) -> list[list[SentenceNode]]:
        """Complete responses: root-to-leaf paths ending in a finished sentence, in a stable order."""
        found: list[list[SentenceNode]] = []

        def walk(node: SentenceNode, path: list[SentenceNode]) -> None:
            path = path + [node]
            if node.finished:
                found.append(path)
            for child in node.children:
                walk(child, path)

        for root in self.roots:
            walk(root, [])
        return found

    @staticmethod
    def response(path: list[SentenceNode]) -> str:
        return "".join(node.text for node in path).strip()

    def stats(self) -> dict[str, int]:
        nodes = list(self.nodes())
        return {"nodes": len(nodes), "complete_responses": len(self.paths()),
                "max_depth": max((n.depth for n in nodes), default=0)}

    def to_dict(self) -> dict[str, Any]:
        return {"prompt_id": self.prompt_id, "image": self.image, "prompt": self.prompt,
                "roots": [root.to_dict() for root in self.roots]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CandidateTree":
        roots = _fold_endings([SentenceNode.from_dict(root) for root in data["roots"]], None)
        return cls(prompt_id=data["prompt_id"], image=data["image"], prompt=data["prompt"], roots=roots)


def _fold_endings(nodes: list[SentenceNode], parent: SentenceNode | None) -> list[SentenceNode]:
    """``nodes`` without the old files' ending nodes (finished, no text, no children): each marks
    ``parent`` finished instead; one before any sentence (an empty response) is dropped."""
    kept = []
    for node in nodes:
        if node.finished and not node.text.strip() and not node.children:
            if parent is not None:
                parent.finished = True
            continue
        node.children = _fold_endings(node.children, node)
        kept.append(node)
    return kept
