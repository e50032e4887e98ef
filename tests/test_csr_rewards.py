"""CSR calibrated rewards, pair selection and pruning on hand-built trees, expectations worked by hand.

Reference mode follows YiyangZhou/CSR inference_csr/{utils,score,construct,sample}.py; paper mode the
paper's equations (shared/csr_spec.md).
"""

from __future__ import annotations

import json

import pytest

from csr_bench.methods.csr.rewards import (calibrate, clip_text, is_junk, kept_by_reference, no_pair_reason, prune,
                                   scored_paths, select_pair)
from csr_bench.methods.csr.tree import CandidateTree, SentenceNode
from csr_bench.errors import CsrBenchError


def node(text, beam=0.0, img=None, logprob=0.0, finished=False, depth=1, children=(), cum=None):
    return SentenceNode(text=text, token_ids=[], logprob=logprob, beam_score=beam, finished=finished, depth=depth,
                        image_score=img, cumulative_beam_score=beam if cum is None else cum,
                        children=list(children))


def tree(*roots):
    return CandidateTree(prompt_id="q1", image="img.jpg", prompt="Describe the image.", roots=list(roots))


@pytest.fixture
def sample_tree():
    """roots A, B (final), C; A -> A1, A2 (final); C -> C1 (final)."""
    a1 = node(" It is black.", beam=-0.3, img=22, logprob=-2.0, finished=True, depth=2)
    a2 = node(" It is white.", beam=-0.4, img=-5, logprob=-2.5, finished=True, depth=2)
    c1 = node(" Birds fly.", beam=-0.1, img=10, logprob=-1.5, finished=True, depth=2)
    a = node(" A cat sits on a mat.", beam=-0.5, img=20, logprob=-3.0, children=[a1, a2])
    b = node(" A dog runs.", beam=-0.2, img=25, logprob=-1.0, finished=True)
    c = node(" The sky is blue.", beam=-0.9, img=30, logprob=-5.0, children=[c1])
    return tree(a, b, c)


A_A1, A_A2, B, C_C1 = ("A cat sits on a mat. It is black.", "A cat sits on a mat. It is white.", "A dog runs.",
                       "The sky is blue. Birds fly.")


# -- reference mode ---------------------------------------------------------------------------------
def test_reference_ranks_and_path_scores(sample_tree):
    a, b, c = sample_tree.roots
    a1, a2 = a.children
    scores = calibrate(sample_tree, "reference", 0.9)
    # roots by beam: B 1/3, A 2/3, C 1; by image: C 1/3, B 2/3, A 1
    assert scores[id(a)] == pytest.approx(0.9 * 1 + 0.1 * 2 / 3)
    assert scores[id(b)] == pytest.approx(0.9 * 2 / 3 + 0.1 * 1 / 3)
    assert scores[id(c)] == pytest.approx(0.9 * 1 / 3 + 0.1 * 1)
    assert scores[id(a1)] == pytest.approx(0.5) and scores[id(a2)] == pytest.approx(1.0)
    assert scores[id(c.children[0])] == pytest.approx(1.0)  # an only child ranks 1/1 on both
    paths = scored_paths(sample_tree, "reference", 0.9)
    assert [p.text for p in paths] == [A_A1, A_A2, B, C_C1]  # depth-first, as construct.py's dfs
    # (sum of sentence scores) / (sentences + 1)
    expected = [(0.96667 + 0.5) / 3, (0.96667 + 1.0) / 3, 0.63333 / 2, (0.4 + 1.0) / 3]
    assert [p.score for p in paths] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("lam, chosen, rejected, chosen_score, rejected_score", [
    (0.9, B, A_A2, 0.63333 / 2, 1.96667 / 3),
    (0.0, B, C_C1, (1 / 3) / 2, 2.0 / 3),  # only R_T (beam-score ranks)
    (1.0, B, A_A2, (2 / 3) / 2, 2.0 / 3),  # only R_I (CLIP ranks)
    (0.5, B, A_A2, 0.5 / 2, (5 / 6 + 1.0) / 3),
])
def test_reference_pair_for_several_lambdas(sample_tree, lam, chosen, rejected, chosen_score, rejected_score):
    pair = select_pair(sample_tree, "reference", lam)
    assert (pair.chosen, pair.rejected) == (chosen, rejected)
    assert pair.chosen_reward == pytest.approx(chosen_score, abs=1e-4)
    assert pair.rejected_reward == pytest.approx(rejected_score, abs=1e-4)
    assert pair.chosen_reward < pair.rejected_reward  # lower is better in reference mode
    assert (pair.mode, pair.lam, pair.prompt_id, pair.image) == ("reference", lam, "q1", "img.jpg")
    assert pair.tree_stats == {"nodes": 6, "complete_responses": 4, "max_depth": 2, "scored_responses": 4,
                               "distinct_responses": 4}


def test_reference_pair_reports_mean_raw_scores(sample_tree):
    pair = select_pair(sample_tree, "reference", 0.9)
    assert (pair.chosen_mean_r_i, pair.chosen_mean_r_t) == pytest.approx((25.0, -0.2))
    assert (pair.rejected_mean_r_i, pair.rejected_mean_r_t) == pytest.approx(((20 - 5) / 2, (-0.5 - 0.4) / 2))
    assert pair.to_dict()["chosen"] == B


def test_reference_ties_keep_tree_order():
    # P best by beam, worst by image; Q the reverse: at lambda 0.5 both score 0.75 -> paths 0.375 each.
    p = node(" A red ball.", beam=-0.1, img=10, finished=True)
    q = node(" A blue ball.", beam=-0.2, img=20, finished=True)
    pair = select_pair(tree(p, q), "reference", 0.5)
    assert (pair.chosen, pair.rejected) == ("A red ball.", "A blue ball.")
    assert pair.chosen_reward == pair.rejected_reward == 0.375
    # equal raw scores: the earlier sibling takes the better rank (stable sort)
    x = node(" Sentence x.", beam=-0.5, img=10, finished=True)
    y = node(" Sentence y.", beam=-0.5, img=10, finished=True)
    scores = calibrate(tree(x, y), "reference", 0.9)
    assert (scores[id(x)], scores[id(y)]) == pytest.approx((0.5, 1.0))


@pytest.fixture
def junk_tree():
    n = node(" A bird sings.", beam=-0.3, img=15, children=[
        node(" ..", beam=-0.1, img=0, finished=True, depth=2),
        node(" A-b.", beam=-0.1, img=0, finished=True, depth=2),  # hyphen deleted: "Ab." is 3 characters
    ])
    return tree(
        node(" Ok.", beam=-0.01, img=50, logprob=-0.1, finished=True),  # 3 characters
        node(" Это кошка.", beam=-0.02, img=49, finished=True),  # Cyrillic
        node(" the the the the the the cat.", beam=-0.03, img=48, finished=True),  # a word 6 times
        node(" A cat on a mat.", beam=-0.5, img=20, logprob=-3, finished=True),
        node(" A dog.", beam=-0.4, img=10, logprob=-2, finished=True),
        n,  # loses both children: a dead end, no complete response through it
    )


def test_reference_drops_short_and_junk_sentences_with_their_subtrees(junk_tree):
    short, cyrillic, repeated, cat, dog, bird = junk_tree.roots
    scores = calibrate(junk_tree, "reference", 0.9)
    assert set(scores) == {id(cat), id(dog), id(bird)}  # ranks among the 3 survivors only
    assert scores[id(cat)] == pytest.approx(0.9 * 1 / 3 + 0.1 * 1)
    assert scores[id(dog)] == pytest.approx(0.9 * 1 + 0.1 * 2 / 3)
    assert scores[id(bird)] == pytest.approx(0.9 * 2 / 3 + 0.1 * 1 / 3)
    pair = select_pair(junk_tree, "reference", 0.9)
    assert (pair.chosen, pair.rejected) == ("A cat on a mat.", "A dog.")
    assert pair.tree_stats["complete_responses"] == 7 and pair.tree_stats["scored_responses"] == 2
    # the paper applies no such filters: the 3-character sentence with the best CLIP score wins
    assert select_pair(junk_tree, "paper", 0.9).chosen == "Ok."


LAMP = (" A lamp stands on a small table by the window, and a cup sits next to it, as if someone had just"
        " left the room for a moment.")  # the response reaches the length cap here


def ending_tree(ending):
    """Two cleanly ended responses and one cut by the length cap. ``ending``: the text of the node
    the old rule (csr-bench before issue 15) put after a sentence when the model emitted the
    end-of-sequence token right after its period, with the scores it got: R_T = log p(</s>) close
    to 0, R_I = CLIP of nearly nothing. "" is how old trees.jsonl files stored it."""
    def end(beam):
        return node(ending, beam=beam, img=12, logprob=beam, finished=True, depth=2)

    a2 = node(" The mat is red.", beam=-0.5, img=20, logprob=-2.0, depth=2, children=[
        node(LAMP, beam=-0.6, img=19, logprob=-6.0, finished=True, depth=3),
        node(" It is warm.", beam=-0.8, img=21, logprob=-2.5, depth=3)])  # pruned
    a = node(" A cat sits on a mat.", beam=-0.2, img=26, logprob=-3.0, children=[
        end(-0.02), a2, node(" It looks calm.", beam=-0.7, img=15, logprob=-2.2, depth=2)])  # the last: pruned
    b = node(" A dog sleeps.", beam=-0.4, img=18, logprob=-1.5, children=[end(-0.03)])
    return tree(a, b)


SHORT, LONG, DOG = "A cat sits on a mat.", "A cat sits on a mat. The mat is red." + LAMP, "A dog sleeps."


def test_the_old_ranked_ending_chose_the_response_cut_by_the_length_cap():
    """The old rule, emulated: the ending ranked as a sentence (a placeholder text, so the reference's
    short-sentence filter keeps it, as the old rule did). Roots: A 0.5, B 1.0. A's candidates by
    R_T: end 1/3, "The mat is red." 2/3, "It looks calm." 1; by R_I: red 1/3, calm 2/3, end 1:
    end 0.9 + 0.1/3, red 0.3 + 0.1 * 2/3, calm 0.6 + 0.1. Under "The mat is red.": lamp (R_T 1/2,
    R_I 1) 0.95, warm 0.55. B's ending is an only child: 1.0. Paths: (0.5 + 0.93333) / 3 for the
    short one, (0.5 + 0.36667 + 0.95) / 4 for the capped one, (1.0 + 1.0) / 3 for the dog."""
    old = ending_tree(" </s>")
    paths = scored_paths(old, "reference", 0.9)
    assert [p.text for p in paths] == [SHORT + " </s>", LONG, DOG + " </s>"]
    assert [p.score for p in paths] == pytest.approx([1.43333 / 3, 1.81667 / 4, 2 / 3], abs=1e-4)
    pair = select_pair(old, "reference", 0.9)
    assert (pair.chosen, pair.rejected) == (LONG, DOG + " </s>")  # the long, capped response wins by its missing ending


def test_the_end_of_a_response_is_neither_ranked_nor_averaged():
    """The same tree as an old trees.jsonl held it (empty ending nodes), read back: each ending
    becomes its parent's ``finished`` flag. A's candidates are now only the two sentences: red 0.5,
    calm 1.0; lamp 0.95 as before. Paths: 0.5 / 2, (0.5 + 0.5 + 0.95) / 4, 1.0 / 2."""
    new = CandidateTree.from_dict(ending_tree("").to_dict())
    a, b = new.roots
    assert a.finished and b.finished and not b.children and [c.text for c in a.children] == [
        " The mat is red.", " It looks calm."]
    assert all(n.text.strip() for n in new.nodes())  # no node is an ending
    scores = calibrate(new, "reference", 0.9)
    assert (scores[id(a.children[0])], scores[id(a.children[1])]) == pytest.approx((0.5, 1.0))
    paths = scored_paths(new, "reference", 0.9)
    assert [p.text for p in paths] == [SHORT, LONG, DOG]  # a response ending at A comes before those through it
    assert [len(p.nodes) for p in paths] == [1, 3, 1]
    assert [p.score for p in paths] == pytest.approx([0.25, 1.95 / 4, 0.5])
    pair = select_pair(new, "reference", 0.9)
    assert (pair.chosen, pair.rejected) == (SHORT, DOG)
    assert (pair.chosen_reward, pair.rejected_reward) == pytest.approx((0.25, 0.5))
    assert (pair.chosen_mean_r_i, pair.chosen_mean_r_t) == pytest.approx((26.0, -0.2))  # one sentence, no ending
    assert pair.tree_stats["complete_responses"] == pair.tree_stats["scored_responses"] == 3
    # paper mode: no ending term either. R = 0.9 R_I + 0.1 log p: A 23.1, red 17.8, lamp 16.5, dog 16.05
    paper = scored_paths(new, "paper", 0.9)
    assert [p.score for p in paper] == pytest.approx([23.1, 23.1 + 17.8 + 16.5, 16.05])
    assert (select_pair(new, "paper", 0.9).chosen, select_pair(new, "paper", 0.9).rejected) == (LONG, DOG)


def test_old_trees_fold_their_endings_and_new_trees_round_trip():
    old = ending_tree("").to_dict()
    old["roots"].append(node("", beam=-0.1, img=11, finished=True).to_dict())  # </s> first: an empty response
    folded = CandidateTree.from_dict(old)
    assert [r.text for r in folded.roots] == [" A cat sits on a mat.", " A dog sleeps."]
    assert [CandidateTree.response(p) for p in folded.paths()] == [SHORT, LONG, DOG]
    assert folded.stats() == {"nodes": 6, "complete_responses": 3, "max_depth": 3}
    assert CandidateTree.from_dict(folded.to_dict()).to_dict() == folded.to_dict()
    # the JSON form is the dataclass's own, field for field and in order, at every depth
    import dataclasses
    for root in folded.roots:
        assert json.dumps(root.to_dict()) == json.dumps(dataclasses.asdict(root))
    # a sentence with text that ends with the end-of-sequence token (no period) stays a sentence
    last = node(" It is red", beam=-0.1, img=9, finished=True, depth=2)
    kept = CandidateTree.from_dict(tree(node(" A cat.", children=[last])).to_dict())
    assert [c.text for c in kept.roots[0].children] == [" It is red"] and not kept.roots[0].finished


def test_text_filters_follow_the_reference():
    assert clip_text("  A black-and-white cat 😀 @home.\n") == "A blackandwhite cat  home."
    assert clip_text(" 3 dogs (#1 & #2) 'here' $5 ≥ €4 * π.") == "3 dogs (#1 & #2) 'here' $5  €4 * π."
    for junk in ["안녕하세요", "ねこがいる", "Это кошка", "a&nbsp;&nbsp;b", "dog dog dog dog dog dog",
                 "wowwwwwwwwwwwwww", "a , , , , , , , , , , , b", "''''''''''", "a\nb\nc\nd\ne\nf\ng"]:
        assert is_junk(junk), junk
    for fine in ["一只猫坐着。", "A cat 😀😀😀😀😀😀😀😀😀😀😀😀.", "dog dog dog dog dog cat", "aaaaaaaaaa",
                 "'''''''''", "a\nb\nc\nd\ne\nf"]:
        assert not is_junk(fine), fine
    assert not kept_by_reference(" Ok.") and kept_by_reference(" Ok!.")
    # strip first, clean after (extract_new_text): the spaces left by a deleted dash still count
    assert kept_by_reference(" —  ...") and not kept_by_reference(" — ..")


# -- paper mode -------------------------------------------------------------------------------------
@pytest.mark.parametrize("lam, chosen, rejected, chosen_reward, rejected_reward", [
    # R = 0.9 * max(R_I, 0) + 0.1 * logprob; A2's R_I of -5 counts as 0
    (0.9, A_A1, A_A2, (18 - 0.3) + (19.8 - 0.2), (18 - 0.3) + (0 - 0.25)),
    (0.0, B, C_C1, -1.0, -6.5),  # only R_T: summed log-probs
    (1.0, A_A1, A_A2, 42.0, 20.0),  # only R_I, clamped
])
def test_paper_pair(sample_tree, lam, chosen, rejected, chosen_reward, rejected_reward):
    pair = select_pair(sample_tree, "paper", lam)
    assert (pair.chosen, pair.rejected) == (chosen, rejected)
    assert (pair.chosen_reward, pair.rejected_reward) == pytest.approx((chosen_reward, rejected_reward))


def test_paper_rewards_and_means(sample_tree):
    a, b, c = sample_tree.roots
    scores = calibrate(sample_tree, "paper", 0.9)
    assert scores[id(a.children[1])] == pytest.approx(0.9 * 0 + 0.1 * -2.5)  # clamped R_I
    assert scores[id(c)] == pytest.approx(0.9 * 30 + 0.1 * -5.0)
    pair = select_pair(sample_tree, "paper", 0.9)
    assert (pair.chosen_mean_r_i, pair.chosen_mean_r_t) == pytest.approx((21.0, -2.5))
    assert (pair.rejected_mean_r_i, pair.rejected_mean_r_t) == pytest.approx((10.0, -2.75))  # R_I as clamped


def test_paper_ties_keep_tree_order():
    first = node(" First.", img=10, logprob=-1, finished=True)
    second = node(" Second.", img=10, logprob=-1, finished=True)
    third = node(" Third.", img=10, logprob=-1, finished=True)
    pair = select_pair(tree(first, second, third), "paper", 0.9)
    assert (pair.chosen, pair.rejected) == ("First.", "Third.")


# -- no pair, duplicates, missing scores ------------------------------------------------------------
@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_identical_candidates_give_no_pair(mode):
    same = tree(*[node(" A cat.", beam=-0.1 * i, img=10 + i, finished=True) for i in range(5)])
    assert select_pair(same, mode, 0.9) is None
    assert "1 distinct" in no_pair_reason(same, mode) and "\n" not in no_pair_reason(same, mode)
    assert select_pair(tree(node(" A cat.", img=1, finished=True)), mode) is None
    assert select_pair(tree(), mode) is None


def test_reference_all_filtered_gives_no_pair(junk_tree):
    junk_tree.roots = junk_tree.roots[:3]
    assert select_pair(junk_tree, "reference") is None
    assert "3 complete responses, 0 after the reference's filters" in no_pair_reason(junk_tree, "reference")


def test_duplicate_text_at_the_bottom_is_skipped_for_the_rejected_side():
    # scores: D1 1/3, E 2/3, D2 1 -> the worst path repeats the chosen text: reject E instead
    d1 = node(" A cat.", beam=-0.1, img=30, finished=True)
    e = node(" A dog.", beam=-0.2, img=20, finished=True)
    d2 = node(" A cat.", beam=-0.3, img=10, finished=True)
    pair = select_pair(tree(d1, e, d2), "reference", 0.9)
    assert (pair.chosen, pair.rejected) == ("A cat.", "A dog.")
    assert pair.tree_stats["distinct_responses"] == 2


@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_lambda_zero_needs_no_image_scores(mode, sample_tree):
    for n in sample_tree.nodes():
        n.image_score = None
    pair = select_pair(sample_tree, mode, 0.0)
    assert (pair.chosen, pair.rejected) == (B, C_C1) and pair.chosen_mean_r_i is None
    with pytest.raises(CsrBenchError, match="no image score"):
        select_pair(sample_tree, mode, 0.5)


def test_bad_mode_and_lambda(sample_tree):
    with pytest.raises(CsrBenchError, match="mode"):
        calibrate(sample_tree, "papr", 0.9)
    with pytest.raises(CsrBenchError, match="lambda"):
        select_pair(sample_tree, "paper", 1.5)
    with pytest.raises(CsrBenchError, match="num_beams"):
        prune([], "reference", 0.9, num_beams=1)


# -- pruning ----------------------------------------------------------------------------------------
def candidates(cums):
    # beam_score deliberately opposite to the cumulative score: the reference ranks by the cumulative one
    return [node(f" s{i}.", beam=-c, cum=c, depth=2) for i, c in enumerate(cums)]


def test_reference_prune_keeps_everything_below_num_beams():
    nodes = candidates([-3.0, -1.0, -2.0])
    assert [n.text for n in prune(nodes, "reference")] == [" s1.", " s2.", " s0."]  # sorted, all kept


def test_reference_prune_top_one_bottom_two():
    nodes = candidates([-3.0, -1.0, -5.0, -2.0, -4.0])  # ranked s1 s3 s0 s4 s2
    assert [n.text for n in prune(nodes, "reference")] == [" s1.", " s4.", " s2."]
    seven = candidates([-3.0, -1.0, -5.0, -2.0, -4.0, -0.5, -6.0])  # ranked s5 s1 s3 s0 s4 s2 s6
    assert [n.text for n in prune(seven, "reference")] == [" s5.", " s2.", " s6."]
    assert [n.text for n in prune(seven, "reference", num_beams=7)] == [" s5.", " s1.", " s4.", " s2.", " s6."]


def test_prune_drops_finished_nodes_before_counting():
    nodes = candidates([-3.0, -1.0, -5.0, -2.0, -4.0])
    nodes[1].finished = True
    assert [n.text for n in prune(nodes, "reference")] == [" s3.", " s0.", " s4.", " s2."]  # 4 < 5: all


def test_reference_prune_ties_are_stable():
    nodes = candidates([-1.0] * 5)
    assert [n.text for n in prune(nodes, "reference")] == [" s0.", " s3.", " s4."]


def test_paper_prune_uses_calibrated_reward_summed_from_the_root():
    kids1 = [node(" a.", img=1, depth=2), node(" b.", img=2, depth=2)]
    kids2 = [node(" c.", img=30, depth=2), node(" d.", img=20, depth=2), node(" e.", img=10, depth=2)]
    t = tree(node(" P1.", img=40, logprob=-1, children=kids1), node(" P2.", img=0, logprob=-1, children=kids2))
    new = kids1 + kids2
    # lambda 1: cumulative a 41, b 42, c 30, d 20, e 10 -> b a c d e -> top 1 + bottom 2
    assert [n.text for n in prune(new, "paper", 1.0, tree=t)] == [" b.", " d.", " e."]
    # lambda 0.9 with log-probs: 0.9*R_I + 0.1*logprob, same order here
    assert [n.text for n in prune(new, "paper", 0.9, tree=t)] == [" b.", " d.", " e."]
    with pytest.raises(CsrBenchError, match="pass the tree"):
        prune(new, "paper", 1.0)
    # first sentences need no tree; 3 of them are all kept, best first
    firsts = [node(" x.", img=5, logprob=-1), node(" y.", img=-9, logprob=-0.5), node(" z.", img=7, logprob=-4)]
    assert [n.text for n in prune(firsts, "paper", 0.9)] == [" z.", " x.", " y."]
    assert [n.text for n in prune(firsts, "paper", 0.0)] == [" y.", " x.", " z."]


def test_prune_counts_are_configurable():
    from csr_bench.methods.csr.rewards import prune as prune_nodes
    from csr_bench.methods.csr.tree import SentenceNode

    nodes = [SentenceNode(f" s{i}.", [i], -1.0, -float(i), False, 1, cumulative_beam_score=-float(i))
             for i in range(7)]
    names = lambda kept: [n.text for n in kept]  # noqa: E731
    assert names(prune_nodes(nodes)) == [" s0.", " s5.", " s6."]  # reference: top 1 + bottom 2
    assert names(prune_nodes(nodes, keep_top=2, keep_bottom=1)) == [" s0.", " s1.", " s6."]
    assert names(prune_nodes(nodes, keep_top=3, keep_bottom=0)) == [" s0.", " s1.", " s2."]
    assert len(prune_nodes(nodes, keep_top=4, keep_bottom=3)) == 7
