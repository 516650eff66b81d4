"""The ``hf`` judge: a local causal LM (any hub id or path; ``tiny`` is the run's own base model) scored like the EM
judge, from the probabilities of the rubric's candidate replies, each teacher-forced to its end-of-turn token (the
rubric's word replies are candidates too). On the 0-100 scale the value is the probability-weighted mean over 0..100;
on the binary scale it is P(TRUE) / (P(TRUE) + P(FALSE)) x 100. A word reply more probable than all verdicts
together gives its status; less than 0.25 of the probability on verdicts leaves the answer unscored. Also
`model_fingerprint`, the local model's identity in cache keys.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from metasft.judging.prompts import BINARY_VERDICTS, WORD_STATUSES, Rubric, as_rubrics, resolve_rubric

log = logging.getLogger(__name__)


NUMBERS = tuple(range(101))
MIN_NUMBER_MASS = 0.25  # of the probability on the verdicts (numbers, or TRUE / FALSE)


def model_fingerprint(model: str | Path) -> str:
    """The judge model's identity for cache keys: a hub id as is; a local folder by the hash of its weights'
    names, sizes and mtimes, so a retrained local model (the tiny base) never reuses stale judgments."""
    path = Path(model)
    if not path.is_dir():
        return str(model)
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{path.name}@{digest.hexdigest()[:16]}"


class HFJudge:
    """A local causal LM as judge. Each prompt is run once; its KV cache is repeated over the candidates."""

    backend = "hf"

    def __init__(self, model_path: str | Path, prompts: dict[str, str | Rubric], cache, batch_size: int = 4,
                 model=None, tokenizer=None, chat: dict | None = None):
        """prompts: the judge's rubrics by name (a plain template is the rubric of that EM metric); `judge` also
        takes rubrics it was not built with (a custom suite's)."""
        from metasft.models.chat import set_chat_settings, to_chat_settings

        if model is None:
            from metasft.models.loading import load_base

            model, tokenizer = load_base(model_path, chat=chat)
        elif chat is not None:
            set_chat_settings(tokenizer, chat)
        self.model, self.tokenizer = model, tokenizer
        self.rubrics = as_rubrics(prompts)
        self.cache = cache
        self.batch_size = batch_size
        # judgments made with another rendering of the judge prompt are not reused (default: the key as before)
        self.model_id = model_fingerprint(model_path) + (
            ":thinking" if to_chat_settings(chat).enable_thinking else "")
        self._packed = {}  # packed candidates per reply vocabulary, made on first use

    def _candidate_tokens(self, rubric: Rubric) -> tuple[list[str], list[list[int]]]:
        from metasft.models.chat import end_of_turn_id

        end = end_of_turn_id(self.tokenizer)  # a reply ends as the template ends an assistant turn
        texts = list(rubric.replies)
        return texts, [self.tokenizer(t, add_special_tokens=False)["input_ids"] + [end] for t in texts]

    def _packed_candidates(self, rubric: Rubric):
        if rubric.replies not in self._packed:
            self._packed[rubric.replies] = self._pack_candidates(self._candidate_tokens(rubric)[1])
        return self._packed[rubric.replies]

    def rubric(self, rubric: Rubric | str) -> Rubric:
        return resolve_rubric(rubric, self.rubrics)

    @staticmethod
    def _pack_candidates(candidates: list[list[int]]):
        """The packed feed (token, candidate, offset) of all candidates' tokens but their last, the first token
        of each candidate, and for every later token where its logits are (feed index), itself and its owner."""
        import torch

        feed, where, token, owner = [], [], [], []
        for c, tokens in enumerate(candidates):
            start = len(feed)
            feed += [(t, c, j) for j, t in enumerate(tokens[:-1])]
            for j in range(1, len(tokens)):
                where.append(start + j - 1)
                token.append(tokens[j])
                owner.append(c)
        first = torch.tensor([tokens[0] for tokens in candidates])[None, :]
        follow = (torch.tensor(where), torch.tensor(token), torch.tensor(owner)) if where else None
        return feed, first, follow

    def judge(self, items: list[tuple[str, str]], rubric: Rubric | str) -> list[dict]:
        """One record ``{"value", "status", "reason"}`` per (question, answer), in order; `rubric`: a `Rubric`
        or the name of one the judge was built with."""
        from metasft.judging.cache import JudgeCache

        rubric = self.rubric(rubric)
        keys = [JudgeCache.key(self.backend, self.model_id, rubric.key_hash, q, a) for q, a in items]
        records: dict[str, dict] = {}
        missing: dict[str, tuple[str, str]] = {}  # each distinct uncached (question, answer) once
        for key, item in zip(keys, items):
            if key in records or key in missing:
                continue
            cached = self.cache.get(key)
            if cached is not None:
                records[key] = cached
            else:
                missing[key] = item
        missing = list(missing.items())
        log.info("hf judge %s: %d answers, %d cached, %d distinct to judge", rubric.name, len(items), len(records),
                 len(missing))
        prompts = [rubric.render(q, a) for _, (q, a) in missing]
        encoded = [self._prompt_ids(p) for p in prompts]
        order = sorted(range(len(missing)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            judged = [(missing[i][0], self._record(probabilities, rubric)) for i, probabilities
                      in zip(batch, self._candidate_probabilities([encoded[i] for i in batch], rubric))]
            self.cache.put_many(judged)  # committed (fsync) batch by batch, so a killed job keeps its work
            records.update(judged)
        return [records[k] for k in keys]

    def _prompt_ids(self, prompt: str) -> list[int]:
        from metasft.models.chat import encode_chat

        return encode_chat(self.tokenizer, [{"role": "user", "content": prompt}], add_generation_prompt=True)

    def _candidate_probabilities(self, prompts: list[list[int]], rubric: Rubric):
        """Teacher-forced probability of every candidate reply, for a batch of prompts: (batch, candidates).

        One forward pass per batch: each row is a (left-padded) prompt followed by all candidates' tokens
        packed side by side, with a 4-D attention mask that lets a candidate's tokens see the prompt and their
        own earlier tokens only, and positions that restart after the prompt for every candidate. This costs
        one row per prompt, instead of one row (or a copied KV cache) per prompt and candidate.
        """
        import torch

        feed, first_index, follow_index = self._packed_candidates(rubric)
        device = self.model.device
        pad = self.tokenizer.pad_token_id
        width = max(map(len, prompts))
        n_feed = len(feed)
        length = width + n_feed
        rows, positions, key_ok = [], [], []
        for prompt in prompts:
            padding = width - len(prompt)
            rows.append([pad] * padding + prompt + [t for t, _, _ in feed])
            positions.append([0] * padding + list(range(len(prompt))) + [len(prompt) + j for _, _, j in feed])
            key_ok.append([False] * padding + [True] * len(prompt))
        owner = torch.tensor([-1] * width + [c for _, c, _ in feed], device=device)
        causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
        same_candidate = (owner[None, :] == -1) | (owner[None, :] == owner[:, None])
        real_keys = torch.tensor([k + [True] * n_feed for k in key_ok], device=device)
        allowed = causal & same_candidate & real_keys[:, None, :]
        allowed |= torch.eye(length, dtype=torch.bool, device=device)  # padded rows attend to themselves
        mask = torch.zeros(allowed.shape, dtype=self.model.dtype, device=device)
        mask.masked_fill_(~allowed, torch.finfo(self.model.dtype).min)
        with torch.inference_mode():
            # logits of the last prompt position and of the packed feed only (a hub vocabulary is large)
            logits = self.model(input_ids=torch.tensor(rows, device=device), attention_mask=mask[:, None],
                                position_ids=torch.tensor(positions, device=device),
                                logits_to_keep=n_feed + 1).logits
            log_probs = torch.log_softmax(logits.float(), -1)
            total = log_probs[:, 0].gather(-1, first_index.to(device).expand(len(prompts), -1))
            if follow_index:
                where, token, candidate = (t.to(device) for t in follow_index)
                picked = log_probs[:, 1 + where, token]  # (batch, following tokens)
                total = total.index_add(1, candidate, picked)
        return total.exp().cpu().tolist()

    def _record(self, probabilities: list[float], rubric: Rubric) -> dict:
        n_verdicts = len(rubric.verdicts)
        verdicts = probabilities[:n_verdicts]
        mass = sum(verdicts)
        words = dict(zip(rubric.words, probabilities[n_verdicts:]))
        best_word = max(words, key=words.get) if words else None
        if best_word and words[best_word] > mass:
            return {"value": None, "status": WORD_STATUSES[best_word], "reason": None}
        if mass < MIN_NUMBER_MASS:
            on = "numbers" if rubric.scale == "0_100" else "TRUE / FALSE"
            return {"value": None, "status": "unscored", "reason": f"probability on {on} {mass:.3f} < {MIN_NUMBER_MASS}"}
        if rubric.scale == "binary":
            value = sum(BINARY_VERDICTS[v] * p for v, p in zip(rubric.verdicts, verdicts)) / mass
        else:
            value = sum(n * p for n, p in zip(NUMBERS, verdicts)) / mass
        return {"value": round(value, 4), "status": "ok", "reason": None}
