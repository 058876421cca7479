"""Every asserted claim, re-evaluated in the notebook's own kernel with the mistake its ``catches`` names: it must fail.

``test_notebooks.py`` runs, after the notebook and its exercise probes (no second execution), two probes per entry:
1. the claim's own ``claims.record`` / ``claims.require`` call, taken from the notebook's source, with the values the
   notebook computed: it must pass;
2. the mistake's code (it recomputes the values the call reads, the way a learner's slip would), then the same call:
   it must raise ``ClaimFailed``.
Both run in a copy of the kernel's namespace, so a rebound name does not leak into the next probe; a mistake must
not change objects in place (copy a model before breaking it). A claim whose bound is not asserted on this machine
(``needs=`` hardware it lacks, a measured premise that did not hold, or no bound in quick mode) cannot fail here: its
probe ends in ``NotAssertedHere`` with the reason, the test accepts that and prints which claims it was. So does a
claim the notebook itself skipped here (10's torchaudio cross-check without torchaudio): both probes say so.

``SABOTAGE[notebook][first argument of the call, as written]`` is the mistake's code, or ``(setup, mistake)`` where
the notebook changed an object after the claim (a model trained further): the setup restores what the claim saw and
runs before both probes. A notebook listed here must
have an entry for every asserted claim it makes (the test says which are missing).
"""

from __future__ import annotations

import ast
import re

import nbformat

# 02: quantization-aware training without a straight-through estimator: round() passes no gradient to the weights
_NO_STE = (
    "import copy\n"
    "class _RoundNoSTE(nn.Module):\n"
    "    def __init__(self, bits):\n"
    "        super().__init__()\n"
    "        self.bits = bits\n"
    "    def forward(self, weight):\n"
    "        scale, _, qmin, qmax = affine_params(weight.detach(), self.bits, symmetric=True, axis=0)\n"
    "        return torch.round(weight / _broadcast(scale, weight, 0)).clamp(qmin, qmax) * _broadcast(scale, weight, 0)\n"
    "_net = copy.deepcopy(simple_cnn)\n"
    "for _m in _net.modules():\n"
    "    if isinstance(_m, (nn.Conv2d, nn.Linear)):\n"
    "        parametrize.register_parametrization(_m, 'weight', _RoundNoSTE(QAT_BITS))\n"
    "cu.training.fit(_net, mnist_finetune, epochs=1, lr=3e-3, batch_size=64, seed=SEED, device=device, progress=False)\n"
    "qat_accuracy = cu.training.evaluate(_net, mnist_test, device=device)"
)

# 07: the Megatron block relaunched with one slip built in (model_parallel.py --mistakes)
_MEGATRON = (
    "distributed.launch(SCRIPTS / 'model_parallel.py', ['--data', DATA, '--out', RUNS / 'probe_{mistake}', '--batch',\n"
    "                   BATCH, '--hidden', HIDDEN, '--seed', SEED, '--parts', 'tensor', '--mistakes', '{mistake}'],\n"
    "                   nproc_per_node=2, timeout_s=LAUNCH_TIMEOUT_S, echo=False)\n"
    "mega = [r['tensor'] for r in distributed.read_json(RUNS / 'probe_{mistake}' / 'model_parallel.json')['ranks']]"
)

# 11: our GAT layer recomputed on the cross-check's graphs with one slip (the LeakyReLU slope or the softmax axis)
_GAT = (
    "torch.manual_seed(SEED)\n"
    "_h = torch.randn(8, 34, NODE_DIM)\n"
    "_a, _edges = adjacency.expand(8, 34, 34), to_edge_index(adjacency, 8)\n"
    "with torch.no_grad():\n"
    "    _x = own_gat.lin(_h).view(8, 34, own_gat.heads, own_gat.d_head)\n"
    "    _dst, _src = (_x * own_gat.att_dst).sum(-1), (_x * own_gat.att_src).sum(-1)\n"
    "    _e = F.leaky_relu(_dst.unsqueeze(-2) + _src.unsqueeze(-3), {slope})\n"
    "    _neighbours = (_a + torch.eye(34)) > 0\n"
    "    _alpha = torch.softmax(_e.masked_fill(~_neighbours.unsqueeze(-1), float('-inf')), dim={dim})\n"
    "    _out = torch.einsum('bijh,bjhd->bihd', _alpha, _x).flatten(-2) + own_gat.bias\n"
)

# 08: Integrated Gradients whose average path gradient is not multiplied by (input − baseline)
_IG_NO_DELTA = (
    "def _ig(net, x, target, baseline, steps):\n"
    "    alphas = ((torch.arange(steps, device=x.device) + 0.5) / steps).view(-1, 1, 1, 1, 1)\n"
    "    path = (baseline + alphas * (x - baseline)).flatten(0, 1)\n"
    "    return input_gradient(net, path, target.repeat(steps)).view(steps, *x.shape).mean(0)\n"
)

# 04: the decoder reads each codebook in reverse order
_REVERSED_CODEBOOKS = (
    "import copy\n"
    "_model = copy.deepcopy(decoded_model)\n"
    "with torch.no_grad():\n"
    "    for name in LAYERS:\n"
    "        _w = getattr(_model, name).weight\n"
    "        _w.copy_(torch.cat([torch.zeros(1), codebooks[name].flip(0)])[assignments[name]].view_as(_w))\n"
    "decoded_accuracy = cu.training.evaluate(_model, test_data, device=device)"
)

# 12: the source weights never loaded: the fine-tuning recipe run from random weights
_NO_SOURCE = (
    "_globals, _target_model = run_arm.__globals__, target_model\n"
    "_globals['target_model'] = lambda from_source, seed: _target_model(False, seed)\n"
    "try:\n"
    "    _accuracy = [run_arm(FINETUNE, transfer.label_budget(target_train, CLAIM_BUDGET, s),\n"
    "                         EPOCHS_FOR[CLAIM_BUDGET], s)[0] for s in SEEDS]\n"
    "finally:\n"
    "    _globals['target_model'] = _target_model\n"
    "gain = stats.paired_difference(accuracy['scratch', CLAIM_BUDGET], _accuracy)"
)

SABOTAGE: dict[str, dict[str, str | tuple[str, str]]] = {
    "13_capstone": {
        '"start_accuracy"': (  # the untrained ViT loaded instead of the baseline
            'start_accuracy = cu.training.evaluate(cu.vit.build_model("tiny_vit").to(device), test, device=device)'
        ),
        '"shrunk_equals_zeroed_units_max_abs_diff"': (  # k and v rows taken at the kept width, not the original one
            "_bad = copy.deepcopy(pruned0)\n"
            "with torch.no_grad():\n"
            "    for _blk, _src, _keep in zip(_bad.blocks, start.blocks, keep_heads, strict=True):\n"
            "        _hd = _src.attn.head_dim\n"
            "        _within = (_keep[:, None] * _hd + torch.arange(_hd)).flatten()\n"
            "        _inner = len(_keep) * _hd\n"
            "        _rows = torch.cat([_within, _inner + _within, 2 * _inner + _within])\n"
            "        _blk.attn.qkv.weight.copy_(_src.attn.qkv.weight[_rows])\n"
            "        _blk.attn.qkv.bias.copy_(_src.attn.qkv.bias[_rows])\n"
            "    shrink_diff = (_bad(X_test[:256]) - head_pruning.zero_units(start, keep_heads, keep_neurons)(X_test[:256])\n"
            "                   ).abs().max().item()"
        ),
        '"importance_beats_reversed_in_se"': (  # the least important units kept (the ranking flipped)
            "_kh = head_pruning.keep_top([-s for s in head_scores], PRUNE_HEADS)\n"
            "_kn = head_pruning.keep_top([-s for s in neuron_scores], PRUNE_NEURONS)\n"
            "reverse_gap, reverse_se = paired_gap(correct_of(head_pruning.shrink(start, _kh, _kn)), pruned0_correct)"
        ),
        '"kd_loss_matches_kl_div"': (  # KL(student || teacher): the student's distribution taken as the target
            "_ls = F.log_softmax(toy_student / KD_TEMPERATURE, 1)\n"
            "_lt = F.log_softmax(toy_teacher / KD_TEMPERATURE, 1)\n"
            "ours = (KD_ALPHA * KD_TEMPERATURE**2 * (_ls.exp() * (_ls - _lt)).sum(1).mean()\n"
            "        + (1 - KD_ALPHA) * F.cross_entropy(toy_student, toy_labels))\n"
            "kd_mismatch = (ours - library).abs().item()"
        ),
        '"student_accuracy"': (  # the narrow model evaluated before distillation
            "student_accuracy = cu.training.evaluate(student_before, test, device=device)"
        ),
        '"student_int8_bytes_ratio"': (  # the float state dict saved as the "int8" file
            "int8_ratio = cu.measure.serialized_bytes(student) / cu.measure.serialized_bytes(student)"
        ),
        '"compiled_int8_agreement"': (  # the compiled model compared with another model (the float start)
            "_start = copy.deepcopy(start).cpu()\n"
            "with torch.no_grad():\n"
            "    compiled_agreement = torch.cat([\n"
            "        compiled[64](X_test[i:i + 64].cpu()).argmax(1) == _start(X_test[i:i + 64].cpu()).argmax(1)\n"
            "        for i in range(0, n_agree, 64)]).float().mean().item()"
        ),
        '"onnx_vs_eager_max_abs_diff"': (  # the ONNX model fed the raw pixels, not the normalised images
            "with torch.no_grad():\n"
            "    onnx_diff = (onnx_forward(test.images[:256].float()) - student(X_test[:256]).cpu()).abs().max().item()"
        ),
        '"onnx_over_eager_speedup_b1"': (  # the two speed-ups swapped in the ratio
            'onnx_over_eager_b1 = by_name["student"]["speedup_b1"] / by_name["student ONNX"]["speedup_b1"]'
        ),
        '"lora_gain_over_no_adaptation_pp"': (  # the LoRA model evaluated before training (B = 0)
            "lora_accuracy = cu.training.evaluate(build_lora(), rotated_test, device=device)"
        ),
        '"lora_merge_max_abs_diff"': (  # the merge adds B @ A without the alpha / rank scaling
            "_m = copy.deepcopy(lora_net)\n"
            "for _name, _mod in list(_m.named_modules()):\n"
            "    if isinstance(_mod, lora.LoRALinear):\n"
            "        _lin = copy.deepcopy(_mod.base)\n"
            "        with torch.no_grad():\n"
            "            _lin.weight += _mod.B @ _mod.A\n"
            "        _parent, _, _child = _name.rpartition('.')\n"
            "        setattr(_m.get_submodule(_parent), _child, _lin)\n"
            "with torch.no_grad():\n"
            "    merge_diff = (_m(X_test[:256]) - lora_net(X_test[:256])).abs().max().item()"
        ),
    },
    "04_compression_pipeline": {
        '"baseline_accuracy"': (  # the untrained model loaded instead of the baseline
            'baseline_accuracy = cu.training.evaluate(cu.models.build_model("lenet5_caffe").to(device), test_data, device=device)'
        ),
        '"naive_finetune_sparsity"': (  # the masks re-applied after the plain fine-tune hide the revived weights
            "import copy\n"
            "_naive = copy.deepcopy(naive)\n"
            "pruning.apply_masks(_naive, magnitude_masks(_naive, dict.fromkeys(LAYERS, 0.08)), inplace=True)\n"
            "sparsity_after = sparse.sparsity(_naive)"
        ),
        '"own_masks_equal_torch_prune"': (  # the mask keeps the smallest weights
            "_own = {n: 1 - m for n, m in magnitude_masks(check, KEEP).items()}\n"
            "same_masks = all(torch.equal(getattr(check, n).weight_mask.to(_own[n].device), _own[n]) for n in LAYERS)"
        ),
        '"masks_held_during_finetune"': (  # fine-tuned without re-applying the masks after each step
            "import copy\n"
            "_pruned = copy.deepcopy(pruned)\n"
            "for _p in _pruned.parameters():\n"
            "    _p.requires_grad_(True)  # SharedWeights froze them after the claim\n"
            "cu.training.fit(_pruned, train_data.stratified(10, SEED), epochs=1, lr=5e-4, batch_size=64, seed=SEED,\n"
            "                device=device, progress=False)\n"
            "kept = {n: (getattr(_pruned, n).weight != 0).float().mean().item() for n in LAYERS}\n"
            "pruned_zero = all(bool((getattr(_pruned, n).weight[masks[n] == 0] == 0).all()) for n in LAYERS)"
        ),
        '"pruned_accuracy"': (  # pruned to the final masks in one shot, no fine-tuning between rounds
            "import copy\n"
            "_pruned = copy.deepcopy(model)\n"
            "pruning.apply_masks(_pruned, magnitude_masks(_pruned, KEEP), inplace=True)\n"
            "pruned_accuracy = cu.training.evaluate(_pruned, test_data, device=device)"
        ),
        '"pruned_sparse_bytes"': "sparse_bytes = cu.measure.serialized_bytes(pruned)",  # the zeros saved densely
        '"kmeans_is_a_lloyd_fixed_point"': (  # stopped after one assignment
            "fixed_point = True\n"
            "for name in LAYERS:\n"
            "    weight = getattr(pruned, name).weight.detach().cpu()\n"
            "    values = weight[weight != 0]\n"
            "    _c, index = weight_sharing.kmeans_1d(values, 2 ** WEIGHT_BITS[name] - 1, max_iterations=1, drop_empty=False)\n"
            "    nearest = (values[:, None] - _c[None, :]).abs().argmin(1)\n"
            "    _counts = torch.bincount(index, minlength=len(_c)).clamp_min(1)\n"
            "    means = torch.zeros_like(_c).index_add_(0, index, values) / _counts\n"
            "    fixed_point &= torch.equal(nearest, index) and torch.allclose(means, _c, rtol=1e-5, atol=1e-7)"
        ),
        '"centroid_grad_is_sum_of_weight_grads"': (  # the centroid gradient averaged over its weights
            "import copy\n"
            "_books = {n: c.clone() for n, c in codebooks.items()}\n"
            "_shared = SharedWeights(copy.deepcopy(pruned), _books, assignments).to(device)\n"
            "_x, _y = train_data.subset(torch.arange(256)).tensors(device)\n"
            "F.cross_entropy(_shared(_x), _y).backward()\n"
            "_dense = {k: v.detach().requires_grad_(True) for k, v in _shared.weights().items()}\n"
            "F.cross_entropy(functional_call(_shared.base, _dense, (_x,)), _y).backward()\n"
            "summed_ok = True\n"
            "for name in LAYERS:\n"
            "    index = getattr(_shared, f'assign_{name}').flatten()\n"
            "    per_cluster = torch.zeros(len(codebooks[name]) + 1, device=device).index_add_(\n"
            "        0, index, _dense[f'{name}.weight'].grad.flatten())\n"
            "    per_cluster = per_cluster / torch.bincount(index, minlength=len(per_cluster)).clamp_min(1)\n"
            "    summed_ok &= torch.allclose(_shared.centroids[name].grad, per_cluster[1:], rtol=1e-4, atol=1e-7)"
        ),
        '"compressed_accuracy_in_memory"': (  # every weight replaced by its cluster index, not the centroid
            "import copy\n"
            "_model = copy.deepcopy(compressed_model)\n"
            "with torch.no_grad():\n"
            "    for name in LAYERS:\n"
            "        _w = getattr(_model, name).weight\n"
            "        _w.copy_(assignments[name].to(_w.dtype).view_as(_w))\n"
            "compressed_accuracy = cu.training.evaluate(_model, test_data, device=device)"
        ),
        '"relative_positions_round_trip"': (  # no filler entries: a gap longer than 2**GAP_BITS does not fit
            "round_trip = True\n"
            "for name in LAYERS:\n"
            "    _flat = assignments[name].flatten().numpy()\n"
            "    _positions = np.flatnonzero(_flat)\n"
            "    _gaps = np.diff(_positions, prepend=-1) - 1\n"
            "    round_trip &= np.array_equal(from_relative(_flat[_positions], _gaps, _flat.size), _flat) and (\n"
            "        int(_gaps.max()) < 2**GAP_BITS)"
        ),
        '"huffman_within_entropy_bound"': (  # code lengths from the symbol values, not from their frequencies
            "bound_ok = True\n"
            "for _symbols in streams.values():\n"
            "    _lengths = {int(v): int(v) + 1 for v in np.unique(_symbols)}\n"
            "    _entropy = stats.empirical_entropy_bits(torch.as_tensor(_symbols))\n"
            "    _average = float(np.mean([_lengths[int(v)] for v in _symbols]))\n"
            "    bound_ok &= _entropy <= _average + 1e-12 and _average < _entropy + 1"
        ),
        '"huffman_over_zlib_bytes"': "ours = sum(len(s) for s in streams.values())",  # one byte per symbol
        '"decoded_weights_bit_exact"': (  # the file written with the centroids from before their fine-tuning
            "_books = share_weights(pruned, WEIGHT_BITS)[0]\n"
            "decoded_state = dict(compressed_state)\n"
            "for name in LAYERS:\n"
            "    decoded_state[f'{name}.weight'] = torch.cat([torch.zeros(1), _books[name]])[assignments[name]]\n"
            "bit_exact = all(torch.equal(decoded_state[k], compressed_state[k]) for k in compressed_state)"
        ),
        '"decoded_accuracy_equals_in_memory"': _REVERSED_CODEBOOKS,
        '"decoded_accuracy"': _REVERSED_CODEBOOKS,
        '"accuracy_drop_pp"': (  # positions decoded without the +1 of each gap: every weight lands early
            "import copy\n"
            "_model = copy.deepcopy(decoded_model)\n"
            "with torch.no_grad():\n"
            "    for name in LAYERS:\n"
            "        _w = getattr(_model, name).weight\n"
            "        _flat = np.zeros(_w.numel(), dtype=np.int64)\n"
            "        _flat[np.cumsum(streams[f'{name}.gap'])] = streams[f'{name}.index']\n"
            "        _w.copy_(torch.cat([torch.zeros(1), codebooks[name]])[torch.as_tensor(_flat)].view_as(_w))\n"
            "decoded_accuracy = cu.training.evaluate(_model, test_data, device=device)\n"
            "accuracy_drop_pp = 100 * (baseline_accuracy - decoded_accuracy)"
        ),
        '"compression_ratio"': "ratio = fp32_bytes / sparse_bytes",  # the kept values stored as fp32, not shared
        '"bits_per_kept_weight"': (  # a full byte for every index and every gap: no Huffman coding
            "bits_per_weight = 8 * sum(2 * len(streams[f'{n}.index']) for n in LAYERS) / nonzero_total"
        ),
    },
    "11_graph_fusion": {
        '"snippet_image_node_ignores_audio"': (  # edge_index made undirected: the snippet's bug is not shown
            "torch.manual_seed(SEED)\n"
            "_audio = 10 * torch.randn(1, 64)\n"
            "out_a = conv(torch.cat([image_features, audio_features]), both_ways)\n"
            "out_b = conv(torch.cat([image_features, _audio]), both_ways)\n"
            "image_node_unchanged = torch.equal(out_a[0], out_b[0])"
        ),
        '"snippet_fixed_image_node_hears_audio"': (  # the 'fix' keeps only the image → audio direction
            "_one_way = torch.tensor([[0], [1]])\n"
            "out_c = conv(torch.cat([image_features, audio_features]), _one_way)\n"
            "out_d = conv(torch.cat([image_features, 10 * torch.randn(1, 64)]), _one_way)"
        ),
        '"own_gcn_vs_pyg_max_abs"': (  # no self loops: Ã = A
            "torch.manual_seed(SEED)\n"
            "_h = torch.randn(8, 34, NODE_DIM)\n"
            "_a, _edges = adjacency.expand(8, 34, 34), to_edge_index(adjacency, 8)\n"
            "with torch.no_grad():\n"
            "    _d = _a.sum(-1).clamp_min(1).rsqrt()\n"
            "    _ours = (_d.unsqueeze(-1) * _a * _d.unsqueeze(-2)) @ own_gcn.lin(_h) + own_gcn.bias\n"
            "    gcn_gap = (_ours.flatten(0, 1) - pyg_gcn(_h.flatten(0, 1), _edges)).abs().max().item()"
        ),
        '"own_gat_vs_pyg_max_abs"': _GAT.format(slope=0.01, dim=-2) + (  # LeakyReLU's default slope 0.01, not 0.2
            "    gat_gap = (_out.flatten(0, 1) - pyg_gat(_h.flatten(0, 1), _edges)).abs().max().item()"
        ),
        '"own_gat_attention_vs_pyg_max_abs"': _GAT.format(slope=0.2, dim=-3) + (  # softmax over the targets, not sources
            "    _, (_index, _weights) = pyg_gat(_h.flatten(0, 1), _edges, return_attention_weights=True)\n"
            "    alpha_gap = (_alpha[_index[1] // 34, _index[1] % 34, _index[0] % 34] - _weights).abs().max().item()"
        ),
        '"graph_minus_single_low95_pp"': (  # the audio never reaches the graph model (its input zeroed)
            "import dataclasses\n"
            "_silent = dataclasses.replace(av.test, audio=torch.zeros_like(av.test.audio))\n"
            "_correct = (fusion.predict_paired(models[best_graph], _silent).argmax(1) == av.test.labels).double()\n"
            "over_single = fusion_runs.paired_gain(_correct, test_correct[best_single], av.test)"
        ),
        '"ablation_graph_has_no_cross_edges"': (  # cross edges removed in one direction only
            "no_cross = adjacency.clone()\n"
            "no_cross[PATCHES.start:PATCHES.stop, SEGMENTS.start:SEGMENTS.stop] = 0"
        ),
        '"random_graph_keeps_every_degree"': (  # edges drawn uniformly at random: the same count, other degrees
            "_pairs = torch.triu_indices(34, 34, 1)\n"
            "_pick = _pairs[:, torch.randperm(_pairs.shape[1], generator=torch.Generator().manual_seed(SEED))[\n"
            "    :int(adjacency.sum()) // 2]]\n"
            "rewired = torch.zeros(34, 34)\n"
            "rewired[_pick[0], _pick[1]] = 1\n"
            "rewired = rewired + rewired.T"
        ),
    },
    "09_attention_analysis": {
        '"snippet_numpy_raises"': (  # the snippet already fixed: .detach() before .numpy()
            "try:\n"
            "    attention_weights.squeeze(0).detach().cpu().numpy()\n"
            "    numpy_error = None\n"
            "except RuntimeError as error:\n"
            "    numpy_error = error"
        ),
        '"snippet_weights_are_all_one"': (  # softmax over the batch, which hides the snippet's bug
            "with torch.no_grad():\n"
            "    batch_weights = torch.softmax(snippet.attention(snippet.cnn(X_all[:64])), dim=0)"
        ),
        '"vit_test_accuracy"': (  # the untrained ViT evaluated
            "info = {**info, 'test_accuracy': cu.training.evaluate(cu.vit.build_model('tiny_vit').to(device), mnist_test,\n"
            "                                                      device=device)}"
        ),
        '"attention_vs_torch_max_abs_diff"': (  # scores scaled by the model width (64), not the head width (16)
            "import math\n"
            "block = model.blocks[0]\n"
            "with torch.no_grad():\n"
            "    _tokens = block.norm1(model.tokens(X_all[:8]))\n"
            "    _q, _k, _v = block.attn.qkv(_tokens).view(8, 17, 3, 4, 16).permute(2, 0, 3, 1, 4)\n"
            "    _mixed = torch.softmax(_q @ _k.transpose(-2, -1) / math.sqrt(64), -1) @ _v\n"
            "    _ours = block.attn.proj(_mixed.transpose(1, 2).reshape(8, 17, 64))\n"
            "    _sdpa = block.attn.proj(F.scaled_dot_product_attention(_q, _k, _v).transpose(1, 2).reshape(8, 17, 64))\n"
            "diffs = {'output vs F.scaled_dot_product_attention': (_ours - _sdpa).abs().max().item()}"
        ),
        '"rollout_matches_hand_example"': (  # the identity (residual) not added
            "def attention_rollout(attentions):\n"
            "    rollout = torch.eye(attentions[0].shape[-1]).expand_as(attentions[0][:, 0]).clone()\n"
            "    for weights in attentions:\n"
            "        rollout = weights.mean(1) @ rollout\n"
            "    return rollout\n"
            "rollout_example = attention_rollout(example)[0]"
        ),
        '"ig_beats_rollout_in_se"': (  # IG's pixels deleted least important first
            "_auc = attribution.auc(attribution.deletion_curves(model, xd, -del_maps['integrated_gradients'], td, steps=STEPS,\n"
            "                                                   baseline=BLACK[0]))\n"
            "gap_ig, gap_ig_se = stats.mean_se(aucs['rollout'] - _auc)"
        ),
        '"ig_per_patch_beats_rollout_in_se"': (  # IG per patch deleted least important first
            "_auc = attribution.auc(attribution.deletion_curves(model, xd, -del_maps['ig_per_patch'], td, steps=STEPS,\n"
            "                                                   baseline=BLACK[0]))\n"
            "gap_patch, gap_patch_se = stats.mean_se(aucs['rollout'] - _auc)"
        ),
        '"unchanged_intervention_is_exact"': (  # the rewritten attention forgets the 1/√d scale
            "_attn = model.blocks[-1].attn\n"
            "def _forward(x, return_attention=False):\n"
            "    batch, tokens, _ = x.shape\n"
            "    q, k, v = _attn.qkv(x).view(batch, tokens, 3, _attn.heads, _attn.head_dim).permute(2, 0, 3, 1, 4)\n"
            "    weights = torch.softmax(q @ k.transpose(-2, -1), dim=-1)\n"
            "    out = _attn.proj((weights @ v).transpose(1, 2).reshape(batch, tokens, _attn.dim))\n"
            "    return (out, weights) if return_attention else out\n"
            "_attn.forward = _forward\n"
            "try:\n"
            "    with torch.no_grad():\n"
            "        _probs = F.softmax(model(xd), 1)\n"
            "finally:\n"
            "    del _attn.forward\n"
            "_tvd = 0.5 * (_probs - base_probs).abs().sum(1).mean().item()\n"
            "moved = {**moved, 'unchanged (control)': {**moved['unchanged (control)'], 'tvd': _tvd}}"
        ),
        '"no_attention_accuracy_drop_pp"': (  # the intervention never reaches the model: nothing is removed
            "with torch.no_grad():\n"
            "    no_attention_accuracy = (model(ablation_x).argmax(1) == ablation_y).float().mean().item()"
        ),
        '"rollout_beats_random_in_se"': (  # rollout's patches deleted least important first
            "_auc = attribution.auc(attribution.deletion_curves(model, xd, -del_maps['rollout'], td, steps=STEPS,\n"
            "                                                   baseline=BLACK[0]))\n"
            "gap_random, gap_random_se = stats.mean_se(aucs['random'] - _auc)"
        ),
    },
    "10_multimodal_fusion": {
        '"snippet_raises_shape_error"': (  # the snippet already fixed: the fused map flattened before the Linear
            "try:\n"
            "    output = nn.Linear(20 * 24 * 24, 50)(fused.flatten(1))\n"
            "    snippet_error = None\n"
            "except RuntimeError as error:\n"
            "    snippet_error = error"
        ),
        '"snippet_fixes_have_expected_shapes"': "per_position = nn.Linear(24, 50)(fused)",  # permute forgotten
        '"no_recording_in_two_splits"': (  # validation recordings drawn from all recordings, training ones included
            "recordings = {**recordings, 'val': recordings['val'] | set(sorted(recordings['train'])[:30])}"
        ),
        '"test_recordings_are_fsdd_official_test"': (  # the test split drawn from all recordings
            "index_of = {**index_of, 'test': {avmnist.parse_name(r)[2] for r in recordings['train']}}"
        ),
        '"no_training_image_in_validation"': (  # validation images drawn from the whole MNIST training set
            "import types\n"
            "av = types.SimpleNamespace(train=av.train, val=types.SimpleNamespace(image_index=av.train.image_index[:100]))"
        ),
        '"mel_filters_sum_to_one"': "bank = bank / bank.sum(0, keepdim=True).clamp_min(1e-12)",  # area-normalised
        '"mel_filters_equal_torchaudio"': (
            "try:\n"  # the cross-check runs only where torchaudio is installed
            "    reference\n"
            "except NameError:\n"
            "    raise NotAssertedHere('torchaudio is not installed: the notebook skipped this cross-check') from None",
            "bank = bank / bank.sum(0, keepdim=True).clamp_min(1e-12)",  # the triangles normalised by their area
        ),
        '"intermediate_equals_course_utils"': (
            "shared.load_state_dict(ours.state_dict())",  # ours was trained after the check: compare the same weights
            "_ours = ours\n"  # the codes concatenated audio first
            "ours = lambda x, a: _ours.head(torch.cat([_ours.audio_encoder(a), _ours.image_encoder(x)], dim=1))",
        ),
        '"low_rank_equals_tensor_layer"': (  # the image factor used for both modalities
            "import copy\n"
            "with torch.no_grad():\n"
            "    _weight = torch.einsum('rih,rah->iah', low_rank.image_factor.double(), low_rank.image_factor.double())\n"
            "    _z = torch.einsum('ni,na->nia', with_one(h_i).double(), with_one(h_a).double())\n"
            "    _via_tensor = _z.flatten(1) @ _weight.flatten(0, 1) + low_rank.bias.double()\n"
            "    gap = (_via_tensor - copy.deepcopy(low_rank).double().fused(h_i, h_a)).abs().max().item()"
        ),
        '"attention_equals_sdpa"': "ours_out = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v",  # no 1/√d
        '"best_fusion_gain_low95_pp"': (  # the audio never reaches the fusion model (its input zeroed)
            "import dataclasses\n"
            "_silent = dataclasses.replace(av.test, audio=torch.zeros_like(av.test.audio))\n"
            "_correct = (fusion.predict_paired(models[best_fusion], _silent).argmax(1) == av.test.labels).double()\n"
            "gain = fusion_runs.paired_gain(_correct, test_correct[best_single], av.test)"
        ),
        '"fusion_gain_over_seeds_low95_pp"': (  # the audio never reaches the fusion model, on any seed
            "import dataclasses\n"
            "_silent = {s: dataclasses.replace(made[s][0], audio=torch.zeros_like(made[s][0].audio)) for s in SEEDS}\n"
            "_fused = [100 * fusion.evaluate_paired(made[s][1][best_fusion], _silent[s]) for s in SEEDS]\n"
            "seed_gain = stats.paired_difference([100 * a for a in seed_accuracy[best_single]], _fused)"
        ),
        '"moddrop_codes_vs_encoders_max_abs"': (  # a dropped modality's code taken as zeros (no zero-input code)
            "_zeros = torch.zeros_like(zero_image), torch.zeros_like(zero_audio)\n"
            "with torch.no_grad():\n"
            "    on_codes = HeadOnCodes(moddrop[MODDROP_P].head, *_zeros)(\n"
            "        torch.zeros_like(check_codes.images).to(device), (check_codes.audio.flatten(1) + zero_audio).view(\n"
            "            check_codes.audio.shape).to(device))\n"
            "codes_gap = (through_encoders - on_codes).abs().max().item()"
        ),
        'f"moddrop_no_{missing}_minus_{kept}_only_pp"': (  # the modality dropped at test time only, never in training
            "missing, kept = 'audio', 'image'\n"
            "alone = test_correct[f'{kept} only']\n"
            "delta = (fusion.predict_paired(moddrop[0.0], av.test, missing=missing).argmax(1) == av.test.labels).double() - alone"
        ),
    },
    "12_transfer_learning": {
        '"snippet_warns_pretrained_deprecated"': (  # the snippet already fixed: weights= instead of pretrained=True
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    models.resnet18(weights=None)"
        ),
        '"snippet_fails"': (  # the snippet already fixed: no download, num_classes defined
            "num_classes = 5\n"
            "try:\n"
            "    _net = models.resnet18(weights=None)\n"
            "    _net.fc = nn.Linear(_net.fc.in_features, num_classes)\n"
            "    snippet_error = None\n"
            "except (OSError, RuntimeError, NameError) as error:\n"
            "    snippet_error = error"
        ),
        '"snippet_num_classes_undefined"': (  # num_classes defined before the snippet
            "num_classes = 5\n"
            "try:\n"
            "    _net = models.resnet18(weights=None)\n"
            "    _net.fc = nn.Linear(_net.fc.in_features, num_classes)\n"
            "    head_error = None\n"
            "except NameError as error:\n"
            "    head_error = error"
        ),
        '"target_classes_disjoint_from_source"': (  # the target classes drawn from the source's
            "import types\n"
            "transfer = types.SimpleNamespace(TARGET_CLASSES=transfer.SOURCE_CLASSES, SOURCE_CLASSES=transfer.SOURCE_CLASSES)"
        ),
        '"finetune_gain_interval_low_pp"': _NO_SOURCE,  # quick mode: not asserted (its bound is full mode's)
        '"finetune_gain_over_scratch_pp"': _NO_SOURCE,
        '"probe_epoch_speedup"': (  # the probe recomputes the frozen backbone every epoch
            "probe_speedup = timing.speedup('fine-tune epoch', 'probe epoch (features recomputed)')"
        ),
        '"negative_transfer_frozen_mnist_pp"': (  # the MNIST backbone left trainable: fine-tuned, not frozen
            "negative_gap_pp = 100 * (negative['scratch'] - negative['MNIST source, fine-tuned'])"
        ),
        '"lora_merge_same_outputs"': (  # the merge forgets to add the update B @ A
            "_plain = merged_copy(lora_net)\n"
            "with torch.no_grad():\n"
            "    for _index in LORA_TARGETS:\n"
            "        _plain.features[_index].weight.copy_(lora_net.features[_index].base.weight)\n"
            "    diff64 = (_plain.double()(x_check.double()) - lora_net.double()(x_check.double())).abs().max().item()\n"
            "lora_net.float()"
        ),
        '"merged_model_has_source_shape"': "merged = lora_net",  # the LoRA factors kept in the merged model
        '"lora_matches_peft"': (  # peft configured with another alpha: its update scaled differently
            "_base = target_model(True, SEED)\n"
            "_base.load_state_dict(merged_copy(lora_net).state_dict())\n"
            "for _index in LORA_TARGETS:\n"
            "    _base.features[_index].weight.data.copy_(lora_net.features[_index].base.weight)\n"
            "_config = peft.LoraConfig(r=4, lora_alpha=4 * LORA_ALPHA, lora_dropout=0.0,\n"
            "                          target_modules=[f'features.{i}' for i in LORA_TARGETS], modules_to_save=['fc'])\n"
            "_peft = peft.get_peft_model(_base, _config).to(device).eval()\n"
            "for _index in LORA_TARGETS:\n"
            "    _layer = _peft.base_model.model.features[_index]\n"
            "    _layer.lora_A['default'].weight.data.copy_(lora_net.features[_index].A)\n"
            "    _layer.lora_B['default'].weight.data.copy_(lora_net.features[_index].B)\n"
            "with torch.no_grad():\n"
            "    peft_diff = (_peft(x_check) - lora_net(x_check)).abs().max().item()"
        ),
        '"rslora_scaling_matches_peft"': (  # rsLoRA scaled by alpha / r, as plain LoRA
            "our_scaling = LORA_ALPHA / max(LORA_RANKS)"
        ),
        '"vit_lora_r4_gain_over_no_adaptation_pp"': (  # the LoRA ViT evaluated before training (B = 0, a fresh head)
            "vit_lora = {'accuracy': cu.training.evaluate(vit_for_rotated(4, SEED), rotated_test, device=device)}"
        ),
        '"lora_keeps_source_batchnorm_statistics"': (  # the LoRA model trained with its BatchNorm in train mode
            "_net = lora_model(4, SWEEP_SEEDS[0])\n"
            "train(_net, lora_data[SWEEP_SEEDS[0]], [{'params': [p for p in _net.parameters() if p.requires_grad], 'lr': LR}],\n"
            "      EPOCHS_FOR[CLAIM_BUDGET], SWEEP_SEEDS[0])\n"
            "r4 = {**r4, 'net': _net}"
        ),
    },
    "00_setup_and_baselines": {
        '"mnist_has_60000_train_10000_test"': "mnist_test = cu.data.load_mnist(train=True)",  # train=True twice
        '"cifar10_has_50000_train_10000_test"': "cifar_test = cu.data.load_cifar10(train=True)",
        '"cifar10_balanced"': "cifar_train = cu.data.load_cifar10(train=False)",  # the test split: 1,000 per class
        'f"{name}_accuracy"': (  # the last baseline of the loop (ResNet-20), evaluated untrained
            "name, (model, info) = 'resnet20_cifar10', baselines['resnet20_cifar10']\n"
            "accuracy = cu.training.evaluate(cu.models.build_model('resnet20').to(device),\n"
            "                                cu.baselines.test_split('cifar10', QUICK, SEED), device=device)\n"
            "bound = accuracy_bounds[name][0 if QUICK else 1]"
        ),
        'f"{name}_file_over_fp32_params"': (  # saved as float64
            "import copy\n"
            "name, params = rows[-1][0], rows[-1][1]\n"
            "overhead = cu.measure.serialized_bytes(copy.deepcopy(baselines[name][0]).double()) / (4 * params)"
        ),
        '"resnet20_b64_thread_speedup"': (  # the thread setting never reaches the kernels: both arms on 1 thread
            "thread_speedup = cu.cores.thread_scaling(resnet_forward, 1, warmup=1, repeats=3, device=device).speedup"
        ),
    },
    "01_pruning": {
        '"simple_cnn_accuracy"': (  # the untrained model evaluated instead of the baseline
            "base_acc = cu.training.evaluate(cu.models.build_model('simple_cnn').to(device), mnist_test, device=device)"
        ),
        '"seed_snippet_raises_typeerror"': (  # the seed snippet already fixed: amount passed
            "try:\n"
            "    prune.l1_unstructured(copy.deepcopy(simple_cnn).conv1, 'weight', amount=0.5)\n"
            "    seed_error = 'no error raised'\n"
            "except TypeError as error:\n"
            "    seed_error = str(error)"
        ),
        '"masks_kept_bytes_ratio"': "with_masks_bytes = removed_bytes",  # prune.remove called before saving
        '"prune_remove_bytes_ratio"': (  # the zeros dropped from the file, as if torch.save stored sparsity
            "import pathlib\n"
            "import tempfile\n"
            "removed_bytes = sparse.save_sparse(seed_model.state_dict(), pathlib.Path(tempfile.mkdtemp()) / 'seed.sparse')"
        ),
        '"own_mask_equals_library"': (  # the mask prunes the largest weights
            "library_equal = []\n"
            "for amount in (0.1, 0.5, 0.9, 0.99):\n"
            "    _check = copy.deepcopy(simple_cnn)\n"
            "    for name in LAYERS:\n"
            "        layer = getattr(_check, name)\n"
            "        prune.l1_unstructured(layer, 'weight', amount=amount)\n"
            "        library_equal.append(torch.equal(layer.weight_mask,\n"
            "                                         1 - magnitude_mask(getattr(simple_cnn, name).weight, 1 - amount)))"
        ),
        '"own_global_mask_equals_library"': "global_ = layerwise",  # one threshold per layer
        '"global_minus_layerwise_pp"': (  # the global threshold taken over signed weights, not magnitudes
            "_weights = {n: simple_cnn.get_submodule(n).weight.detach() for n in pruning.prunable_layers(simple_cnn)}\n"
            "_values = torch.cat([w.flatten() for w in _weights.values()])\n"
            "_threshold = _values.kthvalue(round(TARGET_SPARSITY * _values.numel())).values\n"
            "_masks = {n: (w > _threshold).float() for n, w in _weights.items()}\n"
            "global_acc = cu.training.evaluate(pruning.apply_masks(simple_cnn, _masks), mnist_test, device=device)"
        ),
        '"fc1_most_robust_at_90"': (  # the scan's accuracies stored under the wrong layer names (off by one)
            "_shifted = {LAYERS[i]: sensitivity[LAYERS[(i + 1) % len(LAYERS)]] for i in range(len(LAYERS))}\n"
            "fc1_at_90 = _shifted['fc1'][SCAN.index(0.9)]\n"
            "others_at_90 = {n: _shifted[n][SCAN.index(0.9)] for n in LAYERS if n != 'fc1'}"
        ),
        '"lenet5_accuracy"': (
            "lenet_acc = cu.training.evaluate(cu.models.build_model('lenet5').to(device), mnist_test, device=device)"
        ),
        '"iterative_target_acc_drop_pp"': (  # pruned to the target in one shot, no fine-tuning
            "drop_pp = 100 * (lenet_acc - oneshot_raw[target_index])"
        ),
        '"masks_fixed_during_finetune"': (  # the mask multiplied into the weights once: Adam revives pruned weights
            "_net = copy.deepcopy(lenet)\n"
            "_masks = global_masks(_net, 0.5)\n"
            "pruning.apply_masks(_net, _masks, inplace=True)\n"
            "_before = {n: _net.get_submodule(n).weight.detach().clone() for n in _masks}\n"
            "cu.training.fit(_net, finetune_data.stratified(10, SEED), epochs=1, lr=FINETUNE_LR, batch_size=64, seed=SEED,\n"
            "                device=device, progress=False)\n"
            "untouched = [all(torch.equal(_net.get_submodule(n).weight.detach()[m == 0], _before[n][m == 0])\n"
            "                 for n, m in _masks.items())]"
        ),
        '"sparse_file_ratio"': "sparse_bytes = cu.measure.serialized_bytes(pruned_lenet)",  # zeros saved densely
        '"sparse_file_same_predictions"': (  # the biases left out of the sparse file
            "_state = {k: torch.zeros_like(v) if k.endswith('bias') else v for k, v in sparse.load_sparse(sparse_path).items()}\n"
            "_reloaded = cu.models.build_model('lenet5').to(device)\n"
            "_reloaded.load_state_dict(_state)\n"
            "same_predictions = torch.equal(cu.training.predict(_reloaded, mnist_test, device=device),\n"
            "                               cu.training.predict(pruned_lenet, mnist_test, device=device))"
        ),
        '"resnet20_accuracy"': (
            "resnet_acc = cu.training.evaluate(cu.models.build_model('resnet20').to(device), cifar_test, device=device)"
        ),
        '"own_block_output_shape_kept"': "y_pruned = y_pruned[:, keep]",  # the block's outputs pruned with conv1's filters
        '"own_block_equals_torch_pruning"': (  # bn1 not sliced with conv1's filters
            "_block = prune_block_filters(resnet.layers[0], keep).eval()\n"
            "with torch.no_grad():\n"
            "    for attr in ('weight', 'bias', 'running_mean', 'running_var'):\n"
            "        getattr(_block.bn1, attr).copy_(getattr(resnet.layers[0].bn1, attr)[: len(keep)])\n"
            "    y_pruned = _block(x_block)"
        ),
        '"structured_acc_finetuned"': "structured_acc = structured_raw_acc",  # the pruned network not fine-tuned
        '"structured_acc_drop_pp"': "structured_acc = structured_raw_acc",
        '"unstructured_b64_speedup"': (  # the structured model timed under the unstructured name (variants mixed up)
            "_speedup = speedup\n"
            "speedup = lambda comparison, variant: _speedup(comparison, 'structured')"
        ),
        '"structured_b1_speedup"': (  # the zeroed (unstructured) model timed under the structured name
            "_speedup = speedup\n"
            "speedup = lambda comparison, variant: _speedup(comparison, 'unstructured')"
        ),
        '"structured_b64_speedup"': (
            "_speedup = speedup\n"
            "speedup = lambda comparison, variant: _speedup(comparison, 'unstructured')"
        ),
    },
    "08_attributions": {
        '"snippet_gives_one_nonzero_map"': (  # the snippet already fixed: one score per image, summed
            "_images = X_all[:16].clone().requires_grad_()\n"
            "model(_images).max(1).values.sum().backward()\n"
            "nonzero = int((_images.grad.abs().flatten(1).amax(1) > 0).sum())"
        ),
        '"ig_vs_captum_rel_diff"': _IG_NO_DELTA + (
            "_theirs = IntegratedGradients(model).attribute(x8, baselines=BLACK.expand_as(x8), target=t8, n_steps=N_IG,\n"
            "                                               method='riemann_middle')\n"
            "mismatch = {**mismatch, 'integrated_gradients': relative_difference(_ig(model, x8, t8, BLACK, N_IG), _theirs)}"
        ),
        '"saliency_vs_captum_rel_diff"': (  # the gradient of the class probability, not of its logit
            "_x = x8.clone().requires_grad_()\n"
            "_p = torch.softmax(model(_x), 1).gather(1, t8[:, None]).sum()\n"
            "_ours = torch.autograd.grad(_p, _x)[0].abs()\n"
            "mismatch = {**mismatch, 'saliency': relative_difference(_ours, Saliency(model).attribute(x8, target=t8, abs=True))}"
        ),
        '"gradcam_vs_captum_rel_diff"': (  # no ReLU on the weighted sum of the activations
            "_store = {}\n"
            "_hook = model.conv2.register_forward_hook(lambda module, inputs, output: _store.update(a=output))\n"
            "try:\n"
            "    _score = class_score(model, x8, t8)\n"
            "finally:\n"
            "    _hook.remove()\n"
            "_grads = torch.autograd.grad(_score, _store['a'])[0]\n"
            "_cam = (_grads.mean((2, 3), keepdim=True) * _store['a']).sum(1, keepdim=True).detach()\n"
            "_theirs = LayerGradCam(model, model.conv2).attribute(x8, target=t8, relu_attributions=True)\n"
            "mismatch = {**mismatch, 'grad_cam': relative_difference(_cam, _theirs)}"
        ),
        '"gxi_vs_captum_rel_diff"': (  # the gradient returned without multiplying by the input
            "_grad = Saliency(model).attribute(x8, target=t8, abs=False)\n"
            "_captum = InputXGradient(model).attribute(x8, target=t8)\n"
            "mismatch = {**mismatch, 'gradient_x_input': relative_difference(_grad, _captum)}"
        ),
        '"smoothgrad_vs_captum_rel_diff"': (  # |mean gradient| instead of the mean of |gradient|
            "_g = torch.Generator().manual_seed(SEED)\n"
            "_draws = torch.randn((len(x8) * N_SMOOTH, *x8.shape[1:]), generator=_g)\n"
            "_noisy = x8.repeat_interleave(N_SMOOTH, dim=0) + smoothgrad_sigma(x8) * _draws\n"
            "_grads = input_gradient(model, _noisy, t8.repeat_interleave(N_SMOOTH))\n"
            "_ours = _grads.view(len(x8), N_SMOOTH, *x8.shape[1:]).mean(1).abs()\n"
            "mismatch = {**mismatch, 'smoothgrad': relative_difference(_ours, captum_smoothgrad(model, x8, t8, N_SMOOTH,\n"
            "                                                                                 smoothgrad_sigma(x8), SEED))}"
        ),
        '"ig_completeness_error"': _IG_NO_DELTA + (
            "_sums = _ig(model, x8, t8, BLACK, 256).flatten(1).sum(1)\n"
            "completeness = {**completeness, 256: ((_sums - gap8).abs() / gap8.abs()).mean().item()}"
        ),
        '"resnet20_methods_vs_captum_rel_diff"': (  # our maps computed with the ResNet in train mode
            "import copy\n"
            "cifar_mismatch = relative_difference(saliency(copy.deepcopy(resnet).train(), xc4, tc4),\n"
            "                                     Saliency(resnet).attribute(xc4, target=tc4))"
        ),
        '"shapley_efficiency_rel_error"': (  # a superpixel's value summed over its 16 pixels, not counted once
            "_sums = local_maps['shapley_sampling'][:, 0].flatten(1).sum(1)\n"
            "efficiency = ((_sums - shapley_gap).abs() / shapley_gap.abs()).max().item()"
        ),
        '"best_deletion_gap_in_se"': (  # the best map's pixels deleted least important first
            "_auc = attribution.auc(attribution.deletion_curves(model, xf, -faith_maps[best], tf, steps=STEPS,\n"
            "                                                   baseline=BLACK[0]))\n"
            "gap, gap_se = stats.mean_se(aucs['deletion', 'random'] - _auc)"
        ),
        '"best_insertion_gap_in_se"': (  # the best map's pixels inserted least important first
            "_auc = attribution.auc(attribution.insertion_curves(model, xf, -faith_maps[best_ins], tf, steps=STEPS,\n"
            "                                                    baseline=BLACK[0]))\n"
            "gap_ins, gap_ins_se = stats.mean_se(_auc - aucs['insertion', 'random'])"
        ),
        '"random_label_memorised"': (  # the shuffled labels drawn again for the evaluation
            "import copy\n"
            "_data = copy.copy(random_label_train)\n"
            "_data.labels = random_label_train.labels[torch.randperm(len(random_label_train),\n"
            "                                                        generator=torch.Generator().manual_seed(SEED + 1))]\n"
            "memorised = cu.training.evaluate(random_label_model, _data, device=device)"
        ),
        'f"sanity_expected_failure_{n}_in_se"': (  # Gradient×Input without its input factor: a plain gradient
            "n = 'gradient_x_input'\n"
            "_trained, _random = input_gradient(model, xs, ts).abs(), input_gradient(randomised, xs, ts).abs()\n"
            "diff = rank_correlation(_trained, _random) - last_rho['saliency']\n"
            "mean, se = stats.mean_se(diff)\n"
            "z = mean / se if se > 0 else 0.0"
        ),
        'f"sanity_rho_top_layer_{n}"': (  # the re-initialised copy never used: the maps are the trained model's
            "n, asserted = 'saliency', True\n"
            "top_rho = {**top_rho, n: rank_correlation(reference[n], reference[n]).mean().item()}"
        ),
    },
    "06_data_parallel": {  # most slips come from the notebook's own run with them (section 6): `broken`
        '"dataparallel_does_nothing_without_gpus"': (  # device_ids given as CPU cores, as the snippet's author
            "import types\n"  # expected (a stand-in: DataParallel itself refuses them without CUDA)
            "wrapped = types.SimpleNamespace(device_ids=[0, 1])"
        ),
        '"dataparallel_replicates_over_all_gpus"': (  # device_ids set to one GPU (a stand-in: no GPU is needed)
            "import types\n"
            "wrapped = types.SimpleNamespace(device_ids=[0])"
        ),
        'f"{name}_max_param_diff"': ("name = 'ddp_vs_single'", "eq = broken['equality']"),  # gradients summed
        '"batchnorm_ddp_vs_single_max_param_diff"': "bn = broken['batchnorm_train']",
        '"frozen_batchnorm_ddp_vs_single_max_param_diff"': "frozen = broken['batchnorm_frozen']",
        '"syncbatchnorm_refuses_cpu_or_runs_on_gpu"': (  # SyncBatchNorm assumed to work with gloo on CPU
            "lessons = {**lessons, 'sync_batchnorm': 'works'}"
        ),
        '"sampler_each_sample_once_per_epoch"': (  # every rank given the same shard (the run's same-shard slip)
            "exact = [s for k, s in broken['sampler'].items() if k.startswith('size0')]"
        ),
        '"sampler_new_order_each_epoch"': (  # set_epoch never called (the run's no-set-epoch slip)
            "exact = [s for k, s in broken['sampler'].items() if k.startswith('size0')]"
        ),
        '"ddp_speedup_2_processes"': (  # every rank given the whole global batch (the run's full-batch slip)
            "speedup = broken['throughput']['ddp'] / broken['throughput']['single']"
        ),
        '"fsdp2_vs_single_max_param_diff"': "fs = broken['fsdp2']",  # the reduce-scatter sums
        '"fsdp2_adam_bytes_per_rank_over_full"': (  # fully_shard never applied
            "adam_ratio = broken['fsdp2']['adam_bytes_rank'] / broken['fsdp2']['adam_bytes_full']"
        ),
        '"fsdp2_bytes_match_the_arithmetic"': (  # Adam's two moments counted as one
            "predicted = parallel_plan.state_bytes(fs['params'], 'fsdp', lessons['world_size'], param_bytes=4,\n"
            "                                      grad_bytes=4, optimizer_bytes=4)"
        ),
        '"a_worker_was_killed_and_restarted"': (  # max_restarts left at 0: the killed worker ends the job
            "try:\n"
            "    fault = distributed.launch(SCRIPTS / 'train_ddp.py', ['--data', DATA, '--out', RUNS / 'probe_no_restart',\n"
            "                               '--epochs', EPOCHS, '--seed', SEED, '--kill-rank', 1, '--kill-epoch', KILL_EPOCH],\n"
            "                               nnodes=2, nproc_per_node=1, max_restarts=0, timeout_s=LAUNCH_TIMEOUT_S, echo=False)\n"
            "except distributed.LaunchError as _error:\n"
            "    fault = distributed.LaunchResult(_error.output, 0.0, 0)\n"
            "attempts = sum('attempt' in line for line in fault.output)"
        ),
        '"training_resumed_from_the_checkpoint"': (  # the checkpoint ignored on restart
            "distributed.launch(SCRIPTS / 'train_ddp.py', ['--data', DATA, '--out', RUNS / 'probe_no_resume', '--epochs',\n"
            "                   EPOCHS, '--seed', SEED, '--kill-rank', 1, '--kill-epoch', KILL_EPOCH, '--mistakes',\n"
            "                   'no-resume'], nnodes=2, nproc_per_node=1, max_restarts=1, timeout_s=LAUNCH_TIMEOUT_S,\n"
            "                   echo=False)\n"
            "result = distributed.read_json(RUNS / 'probe_no_resume' / 'result.json')"
        ),
        '"two_node_restarted_vs_single_node_max_diff"': (  # the sampler's epoch counted from the restart
            "distributed.launch(SCRIPTS / 'train_ddp.py', ['--data', DATA, '--out', RUNS / 'probe_epoch_lost', '--epochs',\n"
            "                   EPOCHS, '--seed', SEED, '--kill-rank', 1, '--kill-epoch', KILL_EPOCH, '--mistakes',\n"
            "                   'sampler-epoch-lost'], nnodes=2, nproc_per_node=1, max_restarts=1,\n"
            "                   timeout_s=LAUNCH_TIMEOUT_S, echo=False)\n"
            "_restarted = torch.load(RUNS / 'probe_epoch_lost' / 'final.pt', weights_only=True)\n"
            "restart_diff = max((reference[k] - _restarted[k]).abs().max().item() for k in reference)"
        ),
        '"default_first_bucket_smaller_than_explicit_25"': (  # bucket_cap_mb=25 passed for the "default" run
            "default = explicit"
        ),
        '"accumulation_ddp_vs_single_max_param_diff"': "acc = broken['accumulation']",  # losses not divided
    },
    "07_model_and_pipeline_parallel": {
        '"naive_mean_idle_fraction"': (  # the stages timed as if they overlapped: both ranks' compute over one wall
            "naive_idle = [1 - sum(e - s for r in ranks for _, s, e in r['naive']['spans']) / ranks[0]['naive']['wall']]"
        ),
        '"pipeline_grad_max_diff_vs_unsplit"': (  # scale_grads off: the microbatches' gradients summed
            "distributed.launch(SCRIPTS / 'model_parallel.py', ['--data', DATA, '--out', RUNS / 'probe_sum', '--batch',\n"
            "                   BATCH, '--hidden', HIDDEN, '--repeats', 1, '--seed', SEED, '--microbatches', 2, '--parts',\n"
            "                   'pipeline', '--mistakes', 'sum-microbatch-grads'], nproc_per_node=2,\n"
            "                   timeout_s=LAUNCH_TIMEOUT_S, echo=False)\n"
            "_pipe = [r['pipeline'] for r in distributed.read_json(RUNS / 'probe_sum' / 'model_parallel.json')['ranks']]\n"
            "grad_diff = max(p[k]['grad_max_diff'] for p in _pipe for k in p if k != 'reference_loss')"
        ),
        '"pipeline_loss_max_diff_vs_unsplit"': (  # the step's loss reported as the sum of the microbatch losses
            "distributed.launch(SCRIPTS / 'model_parallel.py', ['--data', DATA, '--out', RUNS / 'probe_loss', '--batch',\n"
            "                   BATCH, '--hidden', HIDDEN, '--repeats', 1, '--seed', SEED, '--microbatches', 2, '--parts',\n"
            "                   'pipeline', '--mistakes', 'sum-microbatch-losses'], nproc_per_node=2,\n"
            "                   timeout_s=LAUNCH_TIMEOUT_S, echo=False)\n"
            "_pipe = [r['pipeline'] for r in distributed.read_json(RUNS / 'probe_loss' / 'model_parallel.json')['ranks']]\n"
            "loss_diff = max(abs(_pipe[-1][k]['loss'] - _pipe[-1]['reference_loss']) for k in _pipe[-1] if k != 'reference_loss')"
        ),
        'f"gpipe_bubble_m{m}"': (
            "m, key = 1, 'gpipe_m1'\n"
            "formula = gpipe_bubble(2, m)\n"
            "bubble = {k: sum(p[k]['bubble'] for p in pipe) / len(pipe) for k in configs}",  # an exercise reuses the name
            # the stages run at once, as if there were no wait: both ranks' compute spans over one step's wall time
            "_spans = [span for p in pipe for span in p[key]['spans']]\n"
            "_wall = max(e for _, _, e in _spans) - min(s for _, s, _ in _spans)\n"
            "bubble = {**bubble, key: 1 - sum(e - s for _, s, e in _spans) / _wall}",
        ),
        '"megatron_output_max_diff"': _MEGATRON.format(mistake="bias-on-every-rank"),
        '"megatron_weight_grad_rel_diff"': _MEGATRON.format(mistake="bias-on-every-rank"),
        '"megatron_input_grad_rel_diff"': _MEGATRON.format(mistake="no-backward-all-reduce"),
        '"1f1b_holds_fewer_microbatches_than_gpipe"': (  # the 1F1B schedule run as GPipe
            "pipe = [{**p, f'1f1b_m{m_max}': p[f'gpipe_m{m_max}']} for p in pipe]"
        ),
        'f"1f1b_over_gpipe_activation_bytes_m{m_max}"': (  # the 1F1B schedule run as GPipe
            "held_ratio = pipe[0][f'gpipe_m{m_max}']['peak_activation_bytes'] / "
            "pipe[0][f'gpipe_m{m_max}']['peak_activation_bytes']"
        ),
        'f"tensor_parallel_{key}"': (
            "key = 'row_max_diff'",
            # the bias added on every rank of the row-parallel layer (the sum of the two halves, each with a bias)
            "torch.manual_seed(SEED)\n"
            "_layer = nn.Linear(784, 512)\n"
            "_x = common.mnist_tensors(DATA, torch.device('cpu'))[0][:64]\n"
            "with torch.no_grad():\n"
            "    _row = sum(_x[:, c] @ _layer.weight[:, c].T + _layer.bias for c in torch.arange(784).chunk(2))\n"
            "    _diff = (_row - _layer(_x)).abs().max().item()\n"
            "ranks = [{**r, 'tensor': {**r['tensor'], key: _diff}} for r in ranks]",
        ),
    },
    "05_profile_compile_export": {
        '"profiler_top_op_is_conv"': (  # the table sorted by number of calls
            "events = sorted(prof.key_averages(), key=lambda e: e.count, reverse=True)\n"
            "top_op = events[0].key"
        ),
        '"resnet20_b64_conv_share_of_self_time"': (  # only aten::conv2d counted: the work is in the ops below it
            "conv_share = sum(getattr(e, sort_by) for e in events if e.key == 'aten::conv2d') / total_self"
        ),
        '"trace_shows_convolutions"': (  # the trace exported from a profiler the model never ran in
            "with profile(activities=activities) as _empty:\n"
            "    pass\n"
            "_path = trace_path.with_name('05_probe_empty_trace.json')\n"
            "_empty.export_chrome_trace(str(_path))\n"
            "conv_events = [e for e in json.loads(_path.read_text())['traceEvents']\n"
            "               if e.get('ph') == 'X' and 'conv' in e.get('name', '')]"
        ),
        'f"{name}_own_flops_equal_flop_counter"': (
            "name = 'resnet20'\n"
            "ours = sum(c.flops for c in benchmark.layer_costs(nets[name], inputs[(name, 1)]))\n"
            "with FlopCounterMode(display=False) as _counter, torch.inference_mode():\n"
            "    nets[name](inputs[(name, 1)])\n"
            "library = _counter.get_total_flops()",
            "ours = ours // 2",  # multiply-adds counted, not FLOPs
        ),
        '"matmul_bf16_over_fp32"': (  # the cast forgotten: the "bf16" matmul runs on fp32 tensors
            "_a, _b = a[:bf16_n, :bf16_n], b[:bf16_n, :bf16_n]\n"
            "_t = cu.measure.compare_latency({'fp32': lambda: a @ b, 'bf16': lambda: _a @ _b}, warmup=1, repeats=5,\n"
            "                                device=device)\n"
            "matmul_gflops = benchmark.matmul_flops(matmul_n) / _t.median_ms('fp32') / 1e6\n"
            "bf16_gflops = benchmark.matmul_flops(bf16_n) / _t.median_ms('bf16') / 1e6"
        ),
        '"compile_first_call_over_median"': (  # the compiled model warmed up before the one-shot timing: that
            "first_call_ms = medians['torch.compile'][(first_name, first_bs)]\n"  # call takes what any warm call takes
            "first_call_ratio = first_call_ms / medians['torch.compile'][(first_name, first_bs)]"
        ),
        'f"{name}_b{bs}_compile_speedup"': (
            "name, bs = compile_plan[0]",
            # the first call's compile time counted in the compiled model's median
            "_slow = medians['torch.compile'][(name, bs)] + compile_seconds[(name, bs)] * 1e3 / REPEATS\n"
            "speedups = {**speedups, 'torch.compile': {**speedups['torch.compile'],\n"
            "                                          (name, bs): medians['eager'][(name, bs)] / _slow}}",
        ),
        'f"resnet20_b{bs}_{variant.replace(\' \', \'_\')}_speedup"': (
            "variant, bs = 'bf16 autocast', 64\n"
            "bound = {'needs': 'bf16', 'at_least': 1.2}",
            # autocast around the input's cast only: the convolutions still run in fp32
            "def _cast_only():\n"
            "    with torch.inference_mode():\n"
            "        with torch.autocast(device.type, dtype=torch.bfloat16):\n"
            "            _xb = inputs[('resnet20', 64)].bfloat16()\n"
            "        return resnet(_xb.float())\n"
            "_t = cu.measure.compare_latency({'eager': variants_for('resnet20', 64)['eager'], 'bf16': _cast_only},\n"
            "                                warmup=1, repeats=5, device=device)\n"
            "speedups = {**speedups, variant: {**speedups[variant], ('resnet20', bs): _t.speedup('eager', 'bf16')}}",
        ),
        '"resnet20_b64_bf16_top1_agreement"': (  # predictions compared on different images
            "_fns = variants_for('resnet20', 64)\n"
            "_agree = (_fns['bf16 autocast']().float().argmax(1) == _fns['eager']().argmax(1).roll(1)).float().mean().item()\n"
            "bf16_agreement = {**bf16_agreement, ('resnet20', 64): _agree}"
        ),
        '"branchy_head_breaks_the_graph"': (  # the branch never reached: the explained model is the traced one
            "explained = {**explained, 'branchy': explained['traced']}"
        ),
        '"traced_head_is_one_graph"': (  # the .item() branch still in the "traced" head
            "explained = {**explained, 'traced': explained['branchy']}"
        ),
        '"timer_over_torch_benchmark"': (  # the total of all repeats reported as one call's time
            "timer_ratio = statistics.median(ours_ms) * REPEATS / statistics.median(theirs_ms)"
        ),
        'f"{name}_onnxruntime_matches_eager_1e-4"': (
            "name = 'resnet20'\n"
            "worst = 0.0\n"
            "for _bs in BATCHES:\n"
            "    with torch.no_grad():\n"
            "        _expected = nets[name](inputs[(name, _bs)]).cpu()\n"
            "    worst = max(worst, (torch.from_numpy(ort_call(name, _bs)()) - _expected).abs().max().item())",
            # one side in train mode: batch norm uses the batch's statistics
            "import copy\n"
            "_train = copy.deepcopy(nets[name]).train()\n"
            "worst = 0.0\n"
            "for _bs in BATCHES:\n"
            "    with torch.no_grad():\n"
            "        _expected = _train(inputs[(name, _bs)]).cpu()\n"
            "    worst = max(worst, (torch.from_numpy(ort_call(name, _bs)()) - _expected).abs().max().item())",
        ),
        'f"{name}_b{bs}_onnxruntime_speedup"': (
            "name, bs = 'resnet20', 1\n"
            "phased = benchmark.compare_phased({'eager': eager_call(nets[name], inputs[(name, bs)]),\n"
            "                                   'onnxruntime': ort_call(name, bs)}, warmup=1, repeats=5, device=device)",
            # the ONNX Runtime session created inside the timed call
            "_feed = {sessions[name].get_inputs()[0].name: inputs[(name, bs)].cpu().numpy()}\n"
            "phased = benchmark.compare_phased({'eager': eager_call(nets[name], inputs[(name, bs)]),\n"
            "                                   'onnxruntime': lambda: ort_session(onnx_paths[name], intra_op_threads=threads)\n"
            "                                   .run(None, _feed)}, warmup=1, repeats=3, device=device)",
        ),
        'f"{name}_throughput_b{max(SWEEP)}_over_b1"': (
            "name = 'simple_cnn'\n"
            "row = sweep[name]\n"
            "gain = (max(SWEEP) / row[max(SWEEP)]) / (1 / row[1])",
            "gain = (1 / row[max(SWEEP)]) / (1 / row[1])",  # batches per second, not images
        ),
        'f"resnet20_b{bs}_thread_speedup"': (
            "bs = 64",
            # the thread setting never reaches the kernels: both arms run on one thread
            "scaling = cu.cores.thread_scaling(eager_call(resnet, inputs[('resnet20', 64)]), 1, warmup=1, repeats=4,\n"
            "                                  device=device)",
        ),
        '"resnet20_b64_bn_folded_speedup"': (  # batch norm applied twice: each BN kept beside a second copy of it
            "import copy\n"
            "_twice = copy.deepcopy(resnet)\n"
            "for _parent in list(_twice.modules()):\n"
            "    for _child_name, _child in list(_parent.named_children()):\n"
            "        if isinstance(_child, nn.BatchNorm2d):\n"
            "            setattr(_parent, _child_name, nn.Sequential(_child, copy.deepcopy(_child)))\n"
            "folded_speedup = cu.measure.compare_models({'eager': resnet, 'folded': _twice}, x64, warmup=1,\n"
            "                                           repeats=10).speedup('eager', 'folded')"
        ),
    },
    "03_knowledge_distillation": {
        '"omitted_digit_raised_gain_over_alone_worst_seed"': (  # the soft targets weighted 0 (α = 0)
            "torch.manual_seed(SEEDS[0])\n"
            "_net = mlp([256])\n"
            "cu.training.fit(_net, transfer_set, epochs=15, lr=1e-3, batch_size=64, seed=SEEDS[0], device=device,\n"
            "                step_loss=distillation.kd_step(mnist_teacher, MNIST_TEMPERATURE, 0.0), progress=False)\n"
            "_logits = cu.training.predict(_net, mnist_test, device=device)\n"
            "_raise = raise_to_share(cu.training.predict(_net, unlabelled, device=device), OMITTED_DIGIT, 0.1)\n"
            "_logits[:, OMITTED_DIGIT] += _raise\n"
            "raised_gain = [recall(_logits, OMITTED_DIGIT) - omitted['alone, bias raised'][0]]"
        ),
        '"dark_knowledge_errors_saved_mean"': (  # the control's targets not flattened: it is KD again, seed for seed
            "dark = stats.paired_difference(small_errors['distilled'], small_errors['distilled'])"
        ),
        '"snippet_raises_name_error"': (  # the snippet run where a data loader is already defined
            "dataloader = [next(iter(cu.data.Batches(teacher_train, 64, seed=SEED, device=device)))]\n"
            "snippet_error = None\n"
            "try:\n"
            "    for images, labels in dataloader:\n"
            "        F.cross_entropy(teacher(images), labels)\n"
            "except NameError as error:\n"
            "    snippet_error = error"
        ),
        '"snippet_teacher_has_no_influence"': (  # the teacher's logits used in the snippet's loss (it is KD already)
            "def _snippet_kd(scramble):\n"
            "    torch.manual_seed(SEED)\n"
            "    _student = cu.models.build_model('resnet20').to(device)\n"
            "    _student.load_state_dict(teacher.state_dict())\n"
            "    _teacher = cu.models.build_model('resnet20').to(device).eval() if scramble else teacher\n"
            "    _opt = torch.optim.SGD(_student.parameters(), lr=0.01)\n"
            "    for _step, (_x, _y) in enumerate(cu.data.Batches(teacher_train, 64, shuffle=True, seed=SEED, device=device)):\n"
            "        if _step == 3:\n"
            "            break\n"
            "        _opt.zero_grad()\n"
            "        with torch.no_grad():\n"
            "            _t = _teacher(_x)\n"
            "        kd_loss(_student(_x), _t, _y, 4.0, 0.5).backward()\n"
            "        _opt.step()\n"
            "    return {n: v.detach().clone() for n, v in _student.state_dict().items()}\n"
            "_real, _random = _snippet_kd(False), _snippet_kd(True)\n"
            "identical = all(torch.equal(_real[n], _random[n]) for n in _real)"
        ),
        '"entropy_grows_with_temperature"': (  # logits multiplied by T
            "mean_entropy = {t: entropy(torch.softmax(test_logits * t, dim=1)).mean().item() for t in temperatures}"
        ),
        '"entropy_matches_course_utils"': (  # entropy in bits
            "def entropy(probabilities):\n"
            "    return -(probabilities * probabilities.clamp_min(1e-12).log2()).sum(1)"
        ),
        '"kd_loss_matches_kl_div"': (  # the T² factor forgotten
            "def _kd_no_t2(s, t, y, temperature, alpha):\n"
            "    log_p_t, log_p_s = torch.log_softmax(t / temperature, 1), torch.log_softmax(s / temperature, 1)\n"
            "    return alpha * (log_p_t.exp() * (log_p_t - log_p_s)).sum(1).mean() + (1 - alpha) * F.cross_entropy(s, y)\n"
            "mismatch = 0.0\n"
            "for _T in (1.0, 4.0, 20.0):\n"
            "    for _a in (0.0, 0.5, 0.9, 1.0):\n"
            "        _lib = _a * _T**2 * F.kl_div(F.log_softmax(toy_student / _T, 1), F.softmax(toy_teacher / _T, 1),\n"
            "                                     reduction='batchmean') + (1 - _a) * F.cross_entropy(toy_student, toy_labels)\n"
            "        mismatch = max(mismatch, (_kd_no_t2(toy_student, toy_teacher, toy_labels, _T, _a) - _lib).abs().item())"
        ),
        '"kd_loss_matches_course_utils"': (  # the shared copy's T² factor dropped
            "def _shared_no_t2(s, t, y, temperature, alpha):\n"
            "    hard = (1 - alpha) * F.cross_entropy(s, y)\n"
            "    return (distillation.kd_loss(s, t, y, temperature, alpha) - hard) / temperature**2 + hard\n"
            "shared_mismatch = max((kd_loss(toy_student, toy_teacher, toy_labels, _T, _a)\n"
            "                       - _shared_no_t2(toy_student, toy_teacher, toy_labels, _T, _a)).abs().item()\n"
            "                      for _T in (1.0, 4.0, 20.0) for _a in (0.0, 0.5, 0.9, 1.0))"
        ),
        '"kl_div_mean_reduction_divides_by_classes"': (  # 'mean' taken for the per-example mean ('batchmean')
            "mean_over_batchmean = (F.kl_div(log_q, p_t, reduction='batchmean')\n"
            "                       / F.kl_div(log_q, p_t, reduction='batchmean')).item()"
        ),
        '"soft_gradient_is_difference_of_probabilities_over_T"': (  # the student's logits not divided by T
            "def soft_gradient(student_logits, teacher_logits, temperature):\n"
            "    logits = student_logits.detach().clone().requires_grad_()\n"
            "    kl = F.kl_div(F.log_softmax(logits, 1), F.softmax(teacher_logits / temperature, 1), reduction='batchmean')\n"
            "    return torch.autograd.grad(kl, logits)[0]"
        ),
        '"unscaled_gradient_ratio_T32_over_T4"': "unscaled = scaled",  # the loss already multiplied by T²
        '"scaled_gradient_ratio_T32_over_T4"': "scaled = unscaled",  # the T² factor forgotten
        '"high_temperature_logit_matching_error"': (  # the logits' mean not removed
            "logit_matching = difference / (10 * len(toy_student))\n"
            "limit_error = ((high_t**2 * soft_gradient(toy_student, toy_teacher, high_t) - logit_matching).norm()\n"
            "               / logit_matching.norm()).item()"
        ),
        '"student_over_teacher_latency_b64"': (  # the teacher timed as the student
            "_pair = cu.measure.compare_models({'teacher': teacher, 'student': teacher},\n"
            "                                  cu.models.example_input('resnet20', 64).to(device), warmup=1, repeats=3)\n"
            "latency_ratio = _pair.median_ms('student') / _pair.median_ms('teacher')"
        ),
        '"teacher_memo_matches_teacher"': (  # the memo keyed by batch position: a reordered batch gets the old logits
            "with torch.no_grad():\n"
            "    memo_error = (teacher(probe) - teacher(probe.flip(0))).abs().max().item()"
        ),
        '"at_gradient_over_ce_beta1000"': (  # the teacher's maps taken for the student's
            "transfer = attention_loss([m + 0 * logits.sum() for m in teacher_maps_of(x)], teacher_maps_of(x))\n"
            "transfer_gradient = gradient_norm(transfer / 2, fresh)"
        ),
        '"kd_gain_mean_pp"': (  # the teacher's logits replaced by the student's own: the KL term is 0, KD is the
            "gain = {**gain, 'KD': stats.paired_difference([100 * a for a in accuracy['alone']],\n"  # student alone
            "                                              [100 * a for a in accuracy['alone']])}"
        ),
        '"mnist_errors_saved_mean"': (  # trained at T = 1 with α = 0: the soft targets never used
            "_errors = {'alone': [], 'distilled': []}\n"
            "for _seed in SEEDS:\n"
            "    for _name, _step in {'alone': cu.training.cross_entropy_step,\n"
            "                         'distilled': distillation.kd_step(mnist_teacher, 1.0, 0.0)}.items():\n"
            "        torch.manual_seed(_seed)\n"
            "        _net = mlp(MNIST_STUDENT)\n"
            "        cu.training.fit(_net, mnist_student_train, epochs=MNIST_STUDENT_EPOCHS, lr=1e-3, batch_size=64,\n"
            "                        seed=_seed, device=device, step_loss=_step, progress=False)\n"
            "        _errors[_name].append(test_errors(_net))\n"
            "saved = stats.paired_difference(_errors['distilled'], _errors['alone'])"
        ),
    },
    "02_quantization": {
        '"pt2e_qat_converted_to_int8"': (  # convert_pt2e forgotten: the trained model still fake-quantizes in float
            "quantize_ops = sum('quantize_per_tensor' in str(node.target) for node in qat_prepared.graph.nodes)\n"
            "fake_quantizers = sum('FakeQuantize' in type(m).__name__ for m in qat_prepared.modules())"
        ),
        '"dynamic_quantized_modules"': (  # modules compared by name only: every layer counts as replaced
            "replaced = [n for n, m in dynamic.named_modules() if n in originals]"
        ),
        '"dynamic_size_ratio"': (  # the quantized size estimated at one byte per weight instead of measured
            "dynamic_bytes = sum(p.numel() for p in resnet.parameters())"
        ),
        '"dynamic_speedup"': (  # the float model timed in float64 (a .double() left over from a check)
            "import copy\n"
            "_fp64, _x64 = copy.deepcopy(resnet).double(), batch64.double()\n"
            "with torch.inference_mode():\n"
            "    _timing = cu.measure.compare_latency({'fp64': lambda: _fp64(_x64), 'dynamic': lambda: dynamic(batch64)},\n"
            "                                         warmup=1, repeats=5)\n"
            "dynamic_speedup = _timing.speedup('fp64', 'dynamic')"
        ),
        '"own_quantizer_equals_torch_within_1_lsb"': (  # one scale for the whole tensor where each channel needs its own
            "_q = quantize(w, scale.max().expand_as(scale), zero_point, -127, 127, axis=0)\n"
            "lsb_channel = (_q - torch_channel).abs().max().item()"
        ),
        '"own_qparams_equal_minmax_observer"': (  # the range divided into 256 levels instead of 255 steps
            "a_scale = (activations.max() - activations.min().clamp(max=0)) / 256"
        ),
        '"sqnr_db_per_bit"': (  # the noise taken as the signal: SQNR inverted
            "def sqnr_db(tensors, **kwargs):\n"
            "    signal = sum((t**2).sum() for t in tensors)\n"
            "    noise = sum(((t - fake_quantize(t, **kwargs)) ** 2).sum() for t in tensors)\n"
            "    return (10 * torch.log10(noise / signal)).item()\n"
            "_low, _high = (sqnr_db(conv_weights, bits=b, symmetric=True, axis=0) for b in (bit_widths[2], bit_widths[-1]))\n"
            "slope = (_high - _low) / (bit_widths[-1] - bit_widths[2])"
        ),
        '"per_channel_gain_minus_theory_db"': (  # one scale per tensor used for both schemes
            "gain = sqnr_db(conv_weights, bits=8, symmetric=True) - sqnr['per-tensor symmetric'][-1]"
        ),
        '"asymmetric_gain_on_relu_db"': (  # the zero-point ignored: 'asymmetric' is symmetric
            "asym_db = sqnr_db([features], bits=8, symmetric=True)"
        ),
        '"int_matmul_equals_dequantized"': (  # the product rescaled by the input scale only
            "y_int = accumulator.float() * f_scale + fc_b"
        ),
        '"int_matmul_within_error_bound"': "y_int = accumulator.float() * f_scale + fc_b",
        '"int_matmul_same_prediction"': "y_int = accumulator.float() * f_scale + fc_b",
        '"own_kmeans_equals_shared"': (  # k-means never iterated: the linear initial centroids kept
            "_ours = torch.linspace(weight.min().item(), weight.max().item(), 4)\n"
            "_shared, _ = weight_sharing.kmeans_1d(weight, 4, drop_empty=False)\n"
            "worst_centroid_diff = (_ours - _shared).abs().max().item()"
        ),
        '"kmeans_8bit_drop_pp"': (  # weights replaced by their cluster index, not by the centroid
            "import copy\n"
            "_net = copy.deepcopy(simple_cnn)\n"
            "with torch.no_grad():\n"
            "    for _m in _net.modules():\n"
            "        if isinstance(_m, (nn.Conv2d, nn.Linear)):\n"
            "            _m.weight.copy_(kmeans_1d(_m.weight.detach(), 2**8)[1].reshape(_m.weight.shape).float())\n"
            "kmeans_rows = {**kmeans_rows, 8: (cu.training.evaluate(_net, mnist_test, device=device),) + kmeans_rows[8][1:]}"
        ),
        '"kmeans_2bit_codebook_kept_by_finetuning"': (  # the shared weights fine-tuned as ordinary float weights
            "_shared = share_weights(simple_cnn, 2)\n"
            "for _m in _shared.modules():\n"
            "    if hasattr(_m, 'centroids'):\n"
            "        _m._forward_pre_hooks.clear()\n"
            "        _m.weight = nn.Parameter(_m.centroids.detach()[_m.assignment])\n"
            "cu.training.fit(_shared, mnist_finetune, epochs=1, lr=1e-2, batch_size=64, seed=SEED, device=device,\n"
            "                progress=False)\n"
            "_distinct = max(len(torch.unique(m.weight)) for m in _shared.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))\n"
            "kmeans_rows = {**kmeans_rows, 2: kmeans_rows[2][:2] + (_distinct,)}"
        ),
        '"ptq_int8_prediction_agreement"': (  # fp32 and int8 predictions taken in different orders (a shuffled loader)
            "agreement = (int8_predictions == fp32_predictions.roll(1)).float().mean().item()"
        ),
        '"ptq_int8_accuracy_drop_pp"': (  # int8 predictions scored against the labels in another order
            "_int8_right = int8_predictions == cifar_test.labels.roll(1)\n"
            "n10, n01 = int((fp32_right & ~_int8_right).sum()), int((~fp32_right & _int8_right).sum())\n"
            "drop_pp = 100 * (n10 - n01) / n"
        ),
        '"int8_vs_fp32_compiled_speedup_b64"': (  # the int8 model run eagerly (reference kernels), not compiled
            "_eager = cu.measure.compare_models({'fp32 compiled': fp32_compiled, 'int8 eager': int8_model}, batch64,\n"
            "                                   warmup=1, repeats=3)\n"
            "speedup_64 = _eager.speedup('fp32 compiled', 'int8 eager')"
        ),
        '"int8_vs_fp32_eager_speedup_b64"': (
            "_eager = cu.measure.compare_models({'fp32 eager': resnet, 'int8 compiled': int8_model}, batch64, warmup=1,\n"
            "                                   repeats=3)\n"
            "latency = {**latency, 64: _eager}"
        ),
        '"int8_artifact_round_trip"': (  # the float tensors (scales, biases) saved in float16
            "loaded = {n: t.half().to(t.dtype) if t.dtype == torch.float32 else t for n, t in loaded.items()}"
        ),
        '"ptq_int8_size_ratio"': (  # the fp32 weights kept in the artifact beside the int8 ones
            "int8_bytes = quantization.save_quantized({**artifact, **{f'fp32.{k}': v for k, v in resnet.state_dict().items()}},\n"
            "                                         artifact_path.with_name('02_quantization.fp32_kept.pt'), meta={})"
        ),
        '"kmeans_minus_uniform_2bit_pp"': (  # the uniform grid used for the k-means arm too
            "kmeans_rows = {**kmeans_rows, 2: (ptq_accuracy[2],) + kmeans_rows[2][1:]}"
        ),
        '"ptq_4bit_weights_drop_pp"': (  # an unsigned 0..15 grid for signed weights: negative weights become 0
            "import copy\n"
            "_net = copy.deepcopy(simple_cnn)\n"
            "with torch.no_grad():\n"
            "    for _m in _net.modules():\n"
            "        if isinstance(_m, (nn.Conv2d, nn.Linear)):\n"
            "            _s, _z, _, _ = affine_params(_m.weight, 4, symmetric=True, axis=0)\n"
            "            _q = quantize(_m.weight, _s, _z, *qrange(4, signed=False), axis=0)\n"
            "            _m.weight.copy_(dequantize(_q, _s, _z, axis=0))\n"
            "ptq_accuracy = {**ptq_accuracy, 4: cu.training.evaluate(_net, mnist_test, device=device)}"
        ),
        '"own_ste_equals_torch_fake_quantize"': (  # no straight-through gradient: round() passes zero back
            "_x = x_ours.detach().clone().requires_grad_()\n"
            "_s = check_scale.reshape(-1, 1)\n"
            "y_ours = torch.round(_x / _s).clamp(-7, 7) * _s\n"
            "(y_ours * upstream).sum().backward()\n"
            "x_ours = _x"
        ),
        '"qat_weights_on_grid"': (  # the parametrization removed without baking the quantized weights in
            "import copy\n"
            "_net = copy.deepcopy(qat_model)\n"
            "with torch.no_grad():\n"
            "    for _m in _net.modules():\n"
            "        if isinstance(_m, (nn.Conv2d, nn.Linear)):\n"
            "            _m.weight.add_(1e-3 * torch.randn_like(_m.weight))  # the float weights the optimiser kept\n"
            "levels = max(len(torch.unique(row)) for m in _net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))\n"
            "             for row in m.weight.detach().flatten(1))"
        ),
        'f"qat_{QAT_BITS}bit_accuracy"': _NO_STE,
    },
}

# Probes written against a notebook's source but not yet run against an executed notebook (test_sabotage.py
# compiles them and requires one per asserted claim): move a notebook into SABOTAGE once its probes passed.


# Mistakes written for a notebook whose claims do not all catch theirs yet (compiled by the tests, not run): empty
# now that every notebook's asserted claims catch their mistakes.
DRAFTS: dict[str, dict[str, str | tuple[str, str]]] = {}


def _code(source: str) -> str:
    return re.sub(r"(?m)^\s*[%!].*$", "", source)


def claim_calls(nb: nbformat.NotebookNode) -> dict[str, str]:
    """``{first argument as written: source of the call}`` of every asserted claim call in the notebook."""
    calls: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or "claims." not in cell.source:
            continue
        source = _code(cell.source)
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                    and node.func.attr in {"record", "require"} and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "claims"):  # fmt: skip
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            bounded = node.func.attr == "require" or None in keywords or any(
                k in keywords and not (isinstance(keywords[k], ast.Constant) and keywords[k].value is None)
                for k in ("at_least", "at_most")
            )
            if bounded:
                calls[ast.get_source_segment(source, node.args[0])] = ast.get_source_segment(source, node)
    return calls


_RUN = '''
class NotAssertedHere(Exception):
    """The claim's bound is not asserted on this machine (hardware it lacks, or a premise that did not hold)."""


_recorded = []
_record = claims.record


def _spy(name, *args, **kwargs):
    _recorded.append(name)
    return _record(name, *args, **kwargs)


claims.record = _spy  # require() goes through record(): both are seen
try:
    exec(compile({code!r}, {what!r}, "exec"), dict(globals()))
finally:
    del claims.record
if {sabotaged!r}:
    from course_utils.claims import is_asserted as _is_asserted

    _asserted = [n for n in _recorded if _is_asserted(claims._entry(n))]
    if not _recorded:
        raise AssertionError("the probe recorded no claim")
    if not _asserted:
        raise NotAssertedHere("; ".join(claims._entry(n).get("not_asserted_because", "no bound in this mode")
                                        for n in _recorded))
    raise AssertionError(f"the claim {{_recorded}} held with its mistake injected: it catches nothing")
'''


def sources(nb: nbformat.NotebookNode, name: str, table: dict | None = None) -> list[tuple[str, str, str]]:
    """Per sabotaged claim: ``(claim, code as written, code with the mistake)``, before they are wrapped as probes."""
    calls = claim_calls(nb)
    result = []
    for claim, entry in (SABOTAGE if table is None else table).get(name, {}).items():
        if claim not in calls:  # a claim another change adds or removes in the same checkout: nothing to probe
            continue
        setup, mistake = entry if isinstance(entry, tuple) else ("", entry)
        result.append((claim, f"{setup}\n{calls[claim]}", f"{setup}\n{mistake}\n{calls[claim]}"))
    return result


def probes(nb: nbformat.NotebookNode, name: str) -> list[tuple[str, list[str], list[str]]]:
    """Per sabotaged claim: ``(claim, [original probe cell], [sabotaged probe cell])``."""
    return [(claim, [_RUN.format(code=original, what=f"<original {claim}>", sabotaged=False)],
             [_RUN.format(code=sabotaged, what=f"<sabotaged {claim}>", sabotaged=True)])
            for claim, original, sabotaged in sources(nb, name)]  # fmt: skip


def missing(nb: nbformat.NotebookNode, name: str, table: dict | None = None) -> list[str]:
    """Asserted claims of a notebook listed in :data:`SABOTAGE` (or ``table``) that have no mistake to inject."""
    table = SABOTAGE if table is None else table
    if name not in table:
        return []
    return sorted(set(claim_calls(nb)) - set(table[name]))
