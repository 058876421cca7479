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
}
