"""Deliberately wrong answers, at least two per exercise, as edits of the teacher's solution: ``(old, new)`` replacements.

``test_notebooks.py`` runs each wrong answer, then the exercise's check, in the notebook's own kernel and
requires the check to fail with an assertion. A notebook added later needs at least two entries per exercise
here (the test says which are missing). Each wrong answer is a mistake a student makes (an inverted ratio, a
missing factor, an off-by-one, the test set where the validation split belongs), not random code. A wrong
answer must not change what later probes rely on (e.g. fold the baseline model in place).
"""

WrongAnswer = list[tuple[str, str]]

# fmt: off
WRONG_ANSWERS: dict[str, dict[int, list[WrongAnswer]]] = {
    "13_capstone": {
        1: [[("_grad.abs().sum(dim=(0, 1))", "_grad.sum(dim=(0, 1)).abs()")],  # |sum over images|, not the mean of |.|
            [('reduction="sum"', 'reduction="mean"')]],  # the batch-mean loss: every image's gradient shrunk by 1/250
        2: [[('o["bytes"] <= r["bytes"]', 'o["bytes"] >= r["bytes"]'), ('o["bytes"] < r["bytes"]', 'o["bytes"] > r["bytes"]')],
            # ^ bigger files taken as better
            [('\n               and (o["accuracy"] > r["accuracy"] or o["bytes"] < r["bytes"])', '')]],
        # ^ not strict: every row beats itself, the front is empty
        3: [[("leaderboard_entry = _candidates[min(", "leaderboard_entry = start  # _candidates[min(")],  # not compressed
            [("leaderboard_entry = _candidates[min(", "leaderboard_entry = student_before  # _candidates[min(")]],
        # ^ the narrow model submitted before it was distilled: below the bar
    },
    "00_setup_and_baselines": {
        1: [[("4 *", "8 *")],  # float64 bytes
            [("4 *", "32 *")]],  # bits, not bytes
        2: [[("argmax()", "argmin()")],  # the best digit, not the worst
            [("worst_digit = int(error_rates.argmax())", "worst_digit = error_rates.max().item()")]],  # the rate, not the digit
        3: [[("stratified(500", "stratified(50")],  # 50 per class, not 5,000 images
            [("cifar_train.stratified(500, seed=SEED)",
              "cifar_train.subset(torch.randperm(len(cifar_train))[:5000])")]],  # random, not stratified
        4: [[('pair.speedup("resnet", "simple")', 'pair.speedup("simple", "resnet")')],  # the inverted ratio
            [('pair.speedup("resnet", "simple")', 'round(pair.speedup("resnet", "simple"))')]],  # rounded to a whole number
    },
    "01_pruning": {
        1: [[("largest=False", "largest=True")],  # prunes the largest weights
            [("        smallest = weight.detach().abs().flatten().topk(k, largest=False).indices\n"
              "        mask.view(-1)[smallest] = 0\n",
              "        mask = (weight.detach().abs() > weight.detach().abs().flatten().kthvalue(k).values).float()\n")]],
        # ^ a threshold at the k-th value: with ties it prunes fewer than k
        2: [[('"conv2": 0.5, "fc1": 0.9, "fc2": 0.3', '"conv2": 0.0, "fc1": 0.0, "fc2": 0.0')],  # prunes nothing
            [('"conv1": 0.0, "conv2": 0.5, "fc1": 0.9, "fc2": 0.3',
              '"conv1": 0.9, "conv2": 0.9, "fc1": 0.9, "fc2": 0.9')]],  # 90 % everywhere
        3: [[("argsort(descending=True)", "argsort(descending=False)")],  # keeps the weakest filters
            [("[:n_keep].sort().values", "[:n_keep]")]],  # keep not sorted: filters come out of order
    },
    "02_quantization": {
        1: [[("folded.abs().amax(dim=(1, 2, 3))", "folded.abs().amax()")],  # one scale per tensor, not per channel
            [("folded = resnet.conv1.weight.detach() * (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()"
              ".reshape(-1, 1, 1, 1)", "folded = resnet.conv1.weight.detach()")],  # BatchNorm not folded
            [("/ 127.5", "/ 127")]],  # our symmetric range, not the observer's
        2: [[("multiplier = (f_scale * w_scale / out_scale).double()",
              "multiplier = (out_scale / (f_scale * w_scale)).double()")],  # inverted
            [("return torch.clamp(((acc.long() * m0 + rounding) >> total) + zero, 0, 255)",
              "return torch.clamp(torch.round(acc.double() * m0 / torch.exp2(total.double())) + zero, 0, 255).long()")],  # float
            [("(acc.long() * m0 + rounding) >> total", "(acc.long() * m0) >> total")],  # truncates instead of rounding
            [("shift = torch.floor(-torch.log2(multiplier)).long()", "shift = torch.zeros_like(multiplier).long()")]],  # no shift
        3: [[("(m.weight.numel() + 1) // 2", "m.weight.numel()")],  # 8-bit indices
            [(" + m.bias.numel() * 4", "")]],  # forgets the biases
    },
    "03_knowledge_distillation": {
        1: [[("alpha * T * T * soft", "alpha * soft")],  # forgets the T² factor
            [("soft = (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()",
              "soft = (log_q.exp() * (log_q - log_p)).sum(dim=1).mean()")],  # KL(student ‖ teacher)
            [(".sum(dim=1).mean()", ".mean()")]],  # averages over batch × classes
        2: [[("temperature_for_entropy(val_logits, target_entropy)", "temperature_for_entropy(test_logits, target_entropy)")],
            [("< target:", "> target:")]],  # bisects the wrong way
        3: [[("alpha_fix = soft_gradient", "alpha_fix = 0.25 * soft_gradient")],  # (32/8), not (32/8)²
            [("_x, _yv = _ts.log(), _norms.log()", "_x, _yv = _ts, _norms")]],  # a line through the raw values, not the logs
        4: [[('_random = one_kd_step(cu.models.build_model("resnet20").to(device).eval())', "_random = one_kd_step(teacher)")],
            [("zip(_real.parameters(), _random.parameters()", "zip(_real.parameters(), _real.parameters()")]],  # itself
    },
    "04_compression_pipeline": {
        1: [[("* len(symbols) / 8", "* len(symbols)")],  # bits, not bytes
            [("* len(symbols) / 8", "/ 8")]],  # the entropy of one symbol, not of the stream
        2: [[("(gaps - 1) //", "gaps //")],  # off by one
            [("// 2**gap_bits", "// (2**gap_bits - 1)")]],  # the largest gap, not the span
        3: [[("(code << 1) | bit", "code | (bit << length)")],  # reads the bits backwards
            [("            code, length = 0, 0\n", "            length = 0\n")]],  # the code is not reset after a match
        4: [[("(final_bytes - _streams_bytes) / final_bytes", "_streams_bytes / final_bytes")],  # the streams' share
            [("(final_bytes - _streams_bytes) / final_bytes",
              'sum(len(b) for k, b in sections.items() if not k.endswith((".index", ".gap"))) / final_bytes')]],  # no header
    },
    "05_profile_compile_export": {
        1: [[("self_cpu_time_total", "cpu_time_total")],  # total time, children included
            [("slowest_op = max(", "slowest_op = min(")]],  # the fastest operator
        2: [[("2 * 20", "20")],  # multiply-adds, not FLOPs
            [("out_side = 12 - 5 + 1", "out_side = 12")]],  # as if the output kept the input's size
        3: [[("        setattr(parent, bn_name, nn.Identity())\n", "")],  # batch norm applied twice
            [('pairs.append((block.shortcut, "0", "1"))', "pass")],  # the shortcuts' batch norms still run
            [("fused = fuse_conv_bn_eval(getattr(parent, conv_name), getattr(parent, bn_name))",
              "fused = getattr(parent, conv_name)")]],  # batch norm dropped, not folded
    },
    "06_data_parallel": {
        1: [[("(a + b) / 2", "(a + b)")],  # sums the gradients instead of averaging them
            [("combined = [(a + b) / 2 for a, b in zip(*shard_grads, strict=True)]", "combined = shard_grads[0]")]],  # one rank
        2: [[("return -(-n // world)", "return n // world")],  # rounds the shard size down: samples are lost
            [("return per_rank(n, world) * world - n", "return n % world")]],  # the remainder, not the padding
        3: [[("<= 0.75 * 80e9)\nddp_fits", "<= 80e9)\nddp_fits")],  # no headroom for activations and buffers
            [("0.75 * 80e9", "0.75 * 80 * 2**30")]],  # GiB where the GPU has 80 GB
    },
    "07_model_and_pipeline_parallel": {
        1: [[("(p - 1) / (m + p - 1)", "(p - 1) / (m + p)")],  # off by one in the schedule length
            [("bubble(4, m) <= 0.10", "bubble(4, m) < 0.10")]],  # "10 % or less" read as "below 10 %"
        2: [[("sum(x_ex[:, c] @ layer.weight[:, c].T for c in cols) + layer.bias",
              "sum(x_ex[:, c] @ layer.weight[:, c].T + layer.bias for c in cols)")],  # bias added on every rank
            [("], dim=1)", "], dim=0)")]],  # shards stacked as more examples, not as more features
        3: [[("key=lambda p: p.communication).strategy", "key=lambda p: p.total).strategy")],  # least memory, not traffic
            [('plans["tensor"].communication / plans["fsdp"].communication',
              'plans["fsdp"].communication / plans["tensor"].communication')]],  # the inverted ratio
    },
    "08_attributions": {
        1: [[("weights[0] = weights[-1] = 0.5 / (steps - 1)", "pass")],  # end points not halved: weights sum above 1
            [("alphas = torch.linspace(0, 1, steps, device=x.device)",
              "alphas = torch.arange(steps, device=x.device) / steps")]],  # left Riemann points: α = 1 never reached
        2: [[("argsort(descending=True, stable=True)", "argsort(descending=False, stable=True)")],  # least important first
            [("my_auc = ((my_curve[1:] + my_curve[:-1]) / 2).mean().item()", "my_auc = my_curve.mean().item()")]],  # no trapezoid
        3: [[("model.conv1, xf", "model.conv2, xf")],  # the default layer again, not conv1
            [("conv1_is_better = conv1_deletion_auc <", "conv1_is_better = conv1_deletion_auc >")]],  # lower AUC is better
    },
    "09_attention_analysis": {
        1: [[("math.sqrt(16)", "math.sqrt(64)")],  # scaled by the model width, not the head width
            [("_q[:, 32:48], _k[:, 32:48]", "_q[:, 48:64], _k[:, 48:64]")]],  # head 3 read as index 3
        2: [[("_raw = _a.mean(1) @ _raw", "_raw = _raw @ _a.mean(1)")],  # the earlier layer on the left
            [("_raw[:, 0, 1:]", "_raw[:, 1:, 0]")]],  # column 0 (who attends to the class token), not row 0
        3: [[("_flat = int(_self.argmax())", "_flat = int(_self.argmin())")],  # the head that looks at itself least
            [("self_attention_value = _self.max().item()", "self_attention_value = _self.mean().item()")]],  # the mean
    },
    "10_multimodal_fusion": {
        1: [[("(d_image + 1) * (d_audio + 1) * hidden + hidden", "d_image * d_audio * hidden + hidden")],  # no appended 1
            [("rank * (d_image + 1) * hidden + rank * (d_audio + 1) * hidden + hidden",
              "rank * (d_image + 1) * hidden + rank * (d_audio + 1) * hidden")]],  # the low-rank layer's bias forgotten
        2: [[("(_p.argmax(1) == av.test.labels)", "(image_logits.argmax(1) == av.test.labels)")],  # the image model alone
            [("(_p.argmax(1) == av.test.labels).float().mean().item()",
              "(_p.argmax(1) == av.test.labels).float().mean().item() * 100")]],  # a percentage, not a fraction
        3: [[("drop = torch.rand(n, generator=generator) < p", "drop = torch.rand(n, generator=generator) < p / 2")],
            [("keep_audio = (~(drop & ~image_side))", "keep_audio = (~(drop & image_side))")]],  # one coin drops both
    },
    "11_graph_fusion": {
        1: [[("a_hat = a + torch.eye(a.shape[0])", "a_hat = a")],  # no self loops
            [("return d[:, None] * a_hat * d[None, :]", "return a_hat / a_hat.sum(1, keepdim=True)")]],  # D⁻¹A, not symmetric
        2: [[("if _k == 2:", "if _k == 1:")],  # off by one hop
            [("reachable_after_two = int(_reach[0].sum())", "reachable_after_two = int(_reach[0].sum()) - 1")]],  # not itself
        3: [[("x[source]", "x[target]")],  # gathers from the wrong end of each edge
            [("return total / count.clamp_min(1).unsqueeze(1)", "return total")]],  # the sum, not the mean
    },
    "12_transfer_learning": {
        1: [[("conv.in_channels * kh * kw + conv.out_channels", "conv.in_channels + conv.out_channels")],  # no kernel
            [("return rank * (conv.in_channels * kh * kw + conv.out_channels)",
              "return rank * (conv.in_channels * kh * kw + conv.out_channels) + conv.out_channels")]],  # a bias LoRA lacks
        2: [[("base.weight + layer.scaling * delta", "base.weight")],  # merges nothing
            [("base.weight + layer.scaling * delta", "base.weight + delta")]],  # forgets α / r
        3: [[("2 * 4 * p.numel() + 4", "2 * 4 * p.numel()")],  # forgets the step counter
            [("trainable = [p for p in model.parameters() if p.requires_grad]",
              "trainable = list(model.parameters())")]],  # frozen weights have no Adam state
    },
}
# fmt: on
