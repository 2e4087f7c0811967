"""ScreenGame-v0: any on-screen game as a Gymnasium env (capture, preprocessing, hybrid input).

Importing this package imports neither mss nor pynput: the capture and input backends load them
when they are created, so the package works (dry-run / replay backends) without a display.
"""
