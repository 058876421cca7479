"""A deliberately wrong answer for every exercise, as edits of the teacher's solution: ``(old, new)`` replacements.

``test_notebooks.py`` runs each wrong answer, then the exercise's check, in the notebook's own kernel and
requires the check to fail with an assertion. A notebook added later needs an entry per exercise here (the
test says which are missing). Each wrong answer is a mistake a student makes (an inverted ratio, a
missing factor, an off-by-one), not random code.
"""

WRONG_ANSWERS: dict[str, dict[int, list[tuple[str, str]]]] = {
    "00_setup_and_baselines": {
        1: [("4 *", "8 *")],  # float64 bytes
        2: [("argmax()", "argmin()")],  # the best digit, not the worst
        3: [("stratified(500", "stratified(50")],  # 50 per class, not 5,000 images
        4: [('pair.speedup("resnet", "simple")', 'pair.speedup("simple", "resnet")')],  # the inverted ratio
    },
    "01_pruning": {
        1: [("largest=False", "largest=True")],  # prunes the largest weights
        2: [('"conv2": 0.5, "fc1": 0.9, "fc2": 0.3', '"conv2": 0.0, "fc1": 0.0, "fc2": 0.0')],  # prunes nothing
        3: [("argsort(descending=True)", "argsort(descending=False)")],  # keeps the weakest filters
    },
    "02_quantization": {
        1: [("folded.abs().amax(dim=(1, 2, 3))", "folded.abs().amax()")],  # one scale per tensor, not per channel
        2: [("multiplier = f_scale * w_scale / out_scale", "multiplier = out_scale / (f_scale * w_scale)")],  # inverted
        3: [("(m.weight.numel() + 1) // 2", "m.weight.numel()")],  # 8-bit indices
    },
    "03_knowledge_distillation": {
        1: [("alpha * T * T * soft", "alpha * soft")],  # forgets the T² factor
        2: [("chosen_T = math.sqrt(low * high)", "chosen_T = 1.0")],  # no search
        3: [("alpha_fix = soft_gradient", "alpha_fix = 0.25 * soft_gradient")],  # (32/8), not (32/8)²
        4: [('_random = one_kd_step(cu.models.build_model("resnet20").to(device).eval())', "_random = one_kd_step(teacher)")],
    },
    "04_compression_pipeline": {
        1: [("* len(symbols) / 8", "* len(symbols)")],  # bits, not bytes
        2: [("(gaps - 1) //", "gaps //")],  # off by one
        3: [("(code << 1) | bit", "code | (bit << length)")],  # reads the bits backwards
        4: [("(final_bytes - _streams_bytes) / final_bytes", "_streams_bytes / final_bytes")],  # the streams' share
    },
    "05_profile_compile_export": {
        1: [("self_cpu_time_total", "cpu_time_total")],  # total time, children included
        2: [("2 * 20", "20")],  # multiply-adds, not FLOPs
        3: [("        setattr(parent, bn_name, nn.Identity())\n", "")],  # batch norm applied twice
    },
    "06_data_parallel": {
        1: [("(a + b) / 2", "(a + b)")],  # sums the gradients instead of averaging them
        2: [("return -(-n // world)", "return n // world")],  # rounds the shard size down: samples are lost
        3: [("<= 0.75 * 80e9)\nddp_fits", "<= 80e9)\nddp_fits")],  # no headroom for activations and buffers
    },
    "07_model_and_pipeline_parallel": {
        1: [("(p - 1) / (m + p - 1)", "(p - 1) / (m + p)")],  # off by one in the schedule length
        2: [("sum(x_ex[:, c] @ layer.weight[:, c].T for c in cols) + layer.bias",
             "sum(x_ex[:, c] @ layer.weight[:, c].T + layer.bias for c in cols)")],  # bias added on every rank
        3: [("key=lambda p: p.communication).strategy", "key=lambda p: p.total).strategy")],  # least memory, not traffic
    },
    "08_attributions": {
        1: [("weights[0] = weights[-1] = 0.5 / (steps - 1)", "pass")],  # end points not halved: weights sum above 1
        2: [("argsort(descending=True, stable=True)", "argsort(descending=False, stable=True)")],  # least important first
        3: [("model.conv1, xf", "model.conv2, xf")],  # the default layer again, not conv1
    },
    "09_attention_analysis": {
        1: [("math.sqrt(16)", "math.sqrt(64)")],  # scaled by the model width, not the head width
        2: [("_raw = _a.mean(1) @ _raw", "_raw = _raw @ _a.mean(1)")],  # the earlier layer on the left
        3: [("_flat = int(_self.argmax())", "_flat = int(_self.argmin())")],  # the head that looks at itself least
    },
    "10_multimodal_fusion": {
        1: [("(d_image + 1) * (d_audio + 1) * hidden + hidden", "d_image * d_audio * hidden + hidden")],  # no appended 1
        2: [("(_p.argmax(1) == av.test.labels)", "(image_logits.argmax(1) == av.test.labels)")],  # the image model alone
        3: [("drop = torch.rand(n, generator=generator) < p", "drop = torch.rand(n, generator=generator) < p / 2")],
    },
    "11_graph_fusion": {
        1: [("a_hat = a + torch.eye(a.shape[0])", "a_hat = a")],  # no self loops
        2: [("if _k == 2:", "if _k == 1:")],  # off by one hop
        3: [("x[source]", "x[target]")],  # gathers from the wrong end of each edge
    },
    "12_transfer_learning": {
        1: [("conv.in_channels * kh * kw + conv.out_channels", "conv.in_channels + conv.out_channels")],  # no kernel
        2: [("base.weight + layer.scaling * delta", "base.weight")],  # merges nothing
        3: [("2 * 4 * p.numel() + 4", "2 * 4 * p.numel()")],  # forgets the step counter
    },
}
