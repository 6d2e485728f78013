"""Secure aggregation on Flower's own SecAgg+ (``SecAggPlusWorkflow`` / ``secaggplus_mod``).

One call of :func:`secure_mean` asks every hospital in ``node_ids`` for a vector ``x_i``
and a count ``n_i`` and returns only ``sum(n_i x_i) / sum(n_i)`` and ``sum(n_i)``: the
server never sees a single hospital's vector. It runs Flower's SecAgg+ protocol (Bell,
Bonawitz, Gascon, Lepoint and Raykova, "Secure Single-Server Aggregation with (Poly)Log
Overhead", CCS 2020, https://doi.org/10.1145/3372297.3417885; the masking idea of
Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine Learning",
CCS 2017, https://doi.org/10.1145/3133956.3133982) in four message exchanges per sum:

1. ``setup``: each hospital makes two key pairs and sends the public keys;
2. ``share_keys``: the server forwards the public keys; each hospital splits its secrets
   into Shamir shares (``threshold`` of them rebuild a secret) and sends one, encrypted, to
   each other hospital;
3. ``collect_masked_vectors``: each hospital computes its vector (local training, its
   moments or its evaluation) and sends it masked with pairwise masks (which cancel in the
   sum) and a private mask, modulo 2**32;
4. ``unmask``: the hospitals still present send the shares the server needs to remove the
   private masks of those who sent a vector and the pairwise masks of those who dropped.

Flower's workflow does the cryptography. This module adds what the workshop needs around
it, on both sides:

- the number format (``aggregation.secaggplus_format``): each hospital sends
  ``n_i * [fixed_point(x_i), 1]`` as if it had one example, so Flower weighs every
  hospital alike (by ``1 / max_weight``), its stochastic rounding is a no-op and the
  unmasked sum is exact; its last entry gives ``sum(n_i)`` back, the rest
  ``sum(n_i x_i)``;
- a gate in front of the workflow (:class:`_CheckedGrid`): every protocol reply is checked
  for the fields, types and shapes Flower's code reads, and a malformed one is dropped (the
  hospital counts as dropped out) instead of crashing the ServerApp;
- on the hospital (:func:`secure_aggregation_mod`): ``secaggplus_mod`` runs only on the
  messages SecAgg+ sends (Flower 1.42's mod raises KeyError on any other train message),
  and the setup reply carries the hospital's labels (which partition it plays).

What SecAgg+ does not do: it trusts the server to follow the protocol (it does not stop a
server that lies about who dropped out), and it cannot check a hospital's input (a hostile
hospital can add any number to the sum; only the pooled checks in ``server_app`` remain).
"""

from __future__ import annotations

from dataclasses import dataclass
from logging import INFO, WARNING

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.common import (
    Code,
    FitIns,
    FitRes,
    Status,
    bytes_to_ndarray,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.common import log as flower_log
from flwr.common.secure_aggregation.secaggplus_constants import (
    RECORD_KEY_CONFIGS,
    Key,
    Stage,
)
from flwr.compat.common import recorddict_compat as compat
from flwr.server import LegacyContext
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey

from hospital_flower.aggregation import InvalidReply, SecAggPlusFormat, fixed_point

# The record in which a hospital's setup reply says which hospital it plays.
LABEL_RECORD = "hospital-label"


class RoundFailed(RuntimeError):
    """A secure round could not produce a sum (too few hospitals reported)."""


# --- on the hospital ----------------------------------------------------------------------


def is_secure_message(msg: Message) -> bool:
    """True for the train messages of Flower's SecAgg+ protocol."""
    return (
        msg.metadata.message_type == MessageType.TRAIN
        and RECORD_KEY_CONFIGS in msg.content.config_records
    )


def secure_aggregation_mod(msg: Message, ctxt: Context, call_next) -> Message:
    """``secaggplus_mod`` for SecAgg+ messages only; every other message passes through.

    On the setup stage the reply also carries this SuperNode's ``partition-id`` and
    ``num-partitions`` (labels, not data) so the server can refuse two laptops playing one
    hospital before any vector is summed.
    """
    if not is_secure_message(msg):
        return call_next(msg, ctxt)
    stage = msg.content.config_records[RECORD_KEY_CONFIGS].get(Key.STAGE)
    reply = secaggplus_mod(msg, ctxt, call_next)
    if stage == Stage.SETUP and not reply.has_error():
        reply.content.config_records[LABEL_RECORD] = ConfigRecord(
            {
                k: ctxt.node_config[k]
                for k in ("partition-id", "num-partitions")
                if k in ctxt.node_config
            }
        )
    return reply


def secure_instructions(msg: Message) -> tuple[np.ndarray, ConfigRecord]:
    """The (global weights, config) of a SecAgg+ train message (Flower's legacy FitIns)."""
    parameters = compat.arrayrecord_to_parameters(
        msg.content.array_records["fitins.parameters"], keep_input=True
    )
    arrays = parameters_to_ndarrays(parameters)
    return (arrays[0] if arrays else np.zeros(0)), msg.content.config_records["fitins.config"]


def secure_reply(msg: Message, vector, count: int, config: ConfigRecord) -> Message:
    """The reply to a SecAgg+ collect stage: ``count * [fixed_point(x), 1]``, one "example".

    Refuses (ValueError / OverflowError, which Flower turns into an error reply: this
    hospital then counts as dropped out) a non-finite vector, a value beyond the agreed
    ``value-bound`` or a count outside [1, max-weight]: what an honest hospital checks
    before anything leaves it.
    """
    max_weight = int(config["max-weight"])
    if isinstance(count, bool) or not 1 <= int(count) <= max_weight:
        raise ValueError(f"count must be in [1, max-weight={max_weight}]; got {count}")
    encoded = fixed_point(vector, int(config["precision-bits"]), float(config["value-bound"]))
    payload = int(count) * np.append(encoded, 1.0)
    fitres = FitRes(
        status=Status(code=Code.OK, message=""),
        parameters=ndarrays_to_parameters([payload]),
        # Flower scales the vector by num_examples / max_weight = 1 / max_weight (a power
        # of two: exact) and adds up those factors modulo 2**32 too; 1 keeps them small.
        num_examples=1,
        metrics={},
    )
    return Message(content=compat.fitres_to_recorddict(fitres, keep_input=True), reply_to=msg)


# --- on the server ------------------------------------------------------------------------


@dataclass(frozen=True)
class SecureSum:
    """What the server learns from one secure round."""

    mean: np.ndarray  # sum(n_i x_i) / sum(n_i) over the hospitals in the sum
    total_count: int  # sum(n_i)
    reporters: tuple[int, ...]  # node ids whose vectors are in the sum


class _Nodes:
    """The part of Flower's legacy ClientManager that the workflow reads (for its log)."""

    def __init__(self, n: int):
        self.n = n

    def num_available(self) -> int:
        return self.n


class _Task:
    """The two calls of a legacy Strategy that ``SecAggPlusWorkflow`` makes."""

    def __init__(self, grid, run_id: int, node_ids, config: dict):
        self.proxies = [GridClientProxy(node_id, grid, run_id) for node_id in node_ids]
        self.config = config
        self.result: tuple[np.ndarray, tuple[int, ...]] | None = None

    def configure_fit(self, server_round, parameters, client_manager):
        return [(proxy, FitIns(parameters, dict(self.config))) for proxy in self.proxies]

    def aggregate_fit(self, server_round, results, failures):
        # Flower has put the unmasked, dequantised sum (divided by its weights) into
        # every result; the per-hospital fields of a result are otherwise empty.
        vector = parameters_to_ndarrays(results[0][1].parameters)[0]
        self.result = (np.asarray(vector, dtype=np.float64), tuple(p.node_id for p, _ in results))
        return None, {}


def _configs(content) -> ConfigRecord:
    try:
        return content.config_records[RECORD_KEY_CONFIGS]
    except (KeyError, TypeError, AttributeError):
        raise InvalidReply("no SecAgg+ record") from None


def _list_of(value, kind, name: str) -> list:
    if not isinstance(value, list) or any(type(v) is not kind for v in value):
        raise InvalidReply(f"{name} must be a list of {kind.__name__}")
    return value


def check_protocol_reply(stage: str, content, vector_length: int, sampled: set[int]) -> None:
    """Raise InvalidReply unless ``content`` holds what Flower's workflow reads at ``stage``."""
    configs = _configs(content)
    try:
        if stage == Stage.SETUP:
            for key in (Key.PUBLIC_KEY_1, Key.PUBLIC_KEY_2):
                if not isinstance(configs[key], bytes):
                    raise InvalidReply(f"{key} must be bytes")
        elif stage == Stage.SHARE_KEYS:
            dsts = _list_of(configs[Key.DESTINATION_LIST], int, "destinations")
            texts = _list_of(configs[Key.CIPHERTEXT_LIST], bytes, "ciphertexts")
            if len(dsts) != len(texts):
                raise InvalidReply("one ciphertext per destination")
        elif stage == Stage.COLLECT_MASKED_VECTORS:
            masked = _list_of(configs[Key.MASKED_PARAMETERS], bytes, "masked vectors")
            try:
                arrays = [bytes_to_ndarray(b) for b in masked]
                compat.recorddict_to_fitres(content, keep_input=True)
            except Exception as error:  # noqa: BLE001 - anything that does not decode
                raise InvalidReply(f"the masked vector does not decode ({error})") from None
            shapes = [a.shape for a in arrays]
            if shapes != [(1,), (vector_length + 1,)] or any(
                a.dtype.kind not in "iu" for a in arrays
            ):
                raise InvalidReply(
                    f"masked vector of shapes {shapes}; expected (1,), ({vector_length + 1},)"
                )
        elif stage == Stage.UNMASK:
            nids = _list_of(configs[Key.NODE_ID_LIST], int, "node ids")
            shares = _list_of(configs[Key.SHARE_LIST], bytes, "shares")
            if len(nids) != len(shares) or not set(nids) <= sampled:
                raise InvalidReply("shares must name hospitals of this round, one share each")
    except KeyError as missing:
        raise InvalidReply(f"missing {missing}") from None


class _CheckedGrid:
    """The Grid that Flower's SecAgg+ workflow talks through.

    It forwards every message and drops each reply that fails :func:`check_protocol_reply`
    (logging the node and the reason): to the workflow that hospital has dropped out.
    ``screen_setup(replies) -> replies`` may drop more at the setup stage (labels).
    """

    def __init__(self, grid, vector_length: int, screen_setup=None, prefix: str = ""):
        self._grid = grid
        self.vector_length = vector_length
        self.screen_setup = screen_setup
        self.prefix = prefix
        self.valid: dict[str, int] = {}
        self.sampled: set[int] = set()

    def __getattr__(self, name):
        return getattr(self._grid, name)

    def send_and_receive(self, messages, *, timeout=None):
        messages = list(messages)
        if not messages:
            return []
        stage = str(messages[0].content.config_records[RECORD_KEY_CONFIGS][Key.STAGE])
        if stage == Stage.SETUP:
            self.sampled = {m.metadata.dst_node_id for m in messages}
        kept = []
        for reply in self._grid.send_and_receive(messages, timeout=timeout):
            node = reply.metadata.src_node_id
            if reply.has_error():
                flower_log(
                    WARNING,
                    "%snode %s dropped out at %s: %s",
                    self.prefix,
                    node,
                    stage,
                    reply.error.reason,
                )
                kept.append(reply)
                continue
            try:
                check_protocol_reply(stage, reply.content, self.vector_length, self.sampled)
            except InvalidReply as reason:
                flower_log(
                    WARNING, "%snode %s excluded at %s: %s", self.prefix, node, stage, reason
                )
                continue
            kept.append(reply)
        if stage == Stage.SETUP and self.screen_setup is not None:
            kept = self.screen_setup(kept)
        self.valid[stage] = sum(not r.has_error() for r in kept)
        flower_log(
            INFO,
            "%sSecAgg+ %s: %d of %d hospitals replied",
            self.prefix,
            stage,
            self.valid[stage],
            len(messages),
        )
        return kept


class _SecAggPlus(SecAggPlusWorkflow):
    """Flower's SecAgg+ workflow, with the hospitals of the sum fixed once keys are shared.

    Flower 1.42 keeps a hospital that dropped out BEFORE sharing its keys (a laptop that
    went away between rounds gets the setup message but never answers) among those it
    later treats as dropped mid-round: it asks the others for that hospital's key shares,
    which they never received, and the whole round fails. Only the hospitals that shared
    their keys have masks in the sum, so after the key-sharing stage the sum's hospitals
    and their neighbour sets are cut down to them; everything else is Flower's code.
    """

    def share_keys_stage(self, grid, context, state) -> bool:
        proceed = super().share_keys_stage(grid, context, state)
        shared = set(state.active_node_ids)
        state.sampled_node_ids = shared
        state.nid_to_neighbours = {
            nid: neighbours & shared
            for nid, neighbours in state.nid_to_neighbours.items()
            if nid in shared
        }
        return proceed


def secure_mean(
    grid,
    context: Context,
    node_ids,
    *,
    server_round: int,
    vector_length: int,
    fmt: SecAggPlusFormat,
    threshold: int,
    config: dict,
    global_weights=None,
    timeout: float | None = None,
    screen_setup=None,
) -> SecureSum:
    """Run one SecAgg+ sum over ``node_ids``; return what the server learns.

    Parameters
    ----------
    grid, context : the ServerApp's.
    node_ids : the hospitals asked (at least ``threshold`` of them).
    server_round : the round number (Flower's group id for the messages).
    vector_length : length of each hospital's ``x_i``.
    fmt : the number format (``aggregation.secaggplus_format``).
    threshold : SecAgg+'s reconstruction threshold: the sum exists only if at least this
        many hospitals stay to the end; fewer raise :class:`RoundFailed`.
    config : what each hospital needs to compute ``x_i`` (its ``task`` and settings).
    global_weights : the global model sent with the instructions (None: nothing).
    timeout : seconds to wait for the replies of each stage (None: until all reply).
    screen_setup : optional filter of the setup replies (see :class:`_CheckedGrid`).
    """
    node_ids = sorted(node_ids)
    if len(node_ids) < threshold:
        raise RoundFailed(
            f"round {server_round}: {len(node_ids)} hospitals available; SecAgg+ needs at "
            f"least min-reporting = {threshold}"
        )
    config = {
        **config,
        "precision-bits": fmt.precision_bits,
        "value-bound": fmt.clipping_range,
        "max-weight": fmt.max_weight,
    }
    checked = _CheckedGrid(grid, vector_length, screen_setup, prefix=f"round {server_round}: ")
    task = _Task(grid, context.run_id, node_ids, config)
    legacy = LegacyContext(
        Context(
            context.run_id, context.node_id, context.node_config, RecordDict(), context.run_config
        ),
        strategy=task,  # type: ignore[arg-type]  # the two calls the workflow makes
        client_manager=_Nodes(len(node_ids)),  # type: ignore[arg-type]
    )
    weights = (
        [np.zeros(0)] if global_weights is None else [np.asarray(global_weights, dtype=np.float64)]
    )
    legacy.state.array_records[MAIN_PARAMS_RECORD] = ArrayRecord(weights)
    legacy.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {WorkflowKey.CURRENT_ROUND: server_round}
    )
    workflow = _SecAggPlus(
        num_shares=1.0,  # every hospital shares with every other (classroom sizes)
        reconstruction_threshold=threshold,
        max_weight=float(fmt.max_weight),
        clipping_range=fmt.clipping_range,
        quantization_range=fmt.quantization_range,
        modulus_range=fmt.modulus_range,
        timeout=timeout,
    )
    try:
        workflow(checked, legacy)
    except Exception as error:  # noqa: BLE001 - e.g. a hostile hospital's garbage shares
        raise InvalidReply(
            f"SecAgg+ could not unmask the sum ({type(error).__name__}: {error})"
        ) from error
    if task.result is None:
        reported = min(checked.valid.values()) if checked.valid else 0
        last = list(checked.valid)[-1] if checked.valid else Stage.SETUP
        raise RoundFailed(
            f"round {server_round}: only {checked.valid.get(last, reported)} of {len(node_ids)} "
            f"hospitals reported (SecAgg+ stage {last}); the sum needs at least "
            f"min-reporting = {threshold}"
        )
    vector, reporters = task.result
    # Flower returns sum_i n_i [x_i, 1] divided by its weights, 1 per hospital in the sum.
    total = vector * len(reporters)
    total_count = int(round(total[-1]))
    if total_count < 1:
        raise InvalidReply(f"the pooled count is {total_count}")
    return SecureSum(mean=total[:-1] / total[-1], total_count=total_count, reporters=reporters)
