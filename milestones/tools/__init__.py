"""Developer tools beside the harness: building book copies, the benchmark, the browser check.

``bookbuild`` builds copies of the book (the tests, ``tito grade``); ``bench`` is ``make bench``;
``browser`` is ``make browser-test``; ``torch_gpt`` is the PyTorch twin of tinytorch's GPT that the
benchmark and the parity tests compare against.
"""
