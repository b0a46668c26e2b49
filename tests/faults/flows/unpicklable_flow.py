"""A step that assigns a value pickle refuses (MODE: lock, generator, socket or item)."""

import os
import socket
import threading

from provider import FlowSpec, step


def unpicklable(mode):
    if mode == "lock":
        return threading.Lock()
    if mode == "generator":
        return (i for i in range(3))
    return socket.socket()


class UnpicklableFlow(FlowSpec):
    @step
    def start(self):
        self.kept = "stored before the error"
        mode = os.environ["MODE"]
        self.items = [1, threading.Lock()] if mode == "item" else [1, 2]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.fine = self.input
        self.next(self.make)

    @step
    def make(self, inputs):
        self.merged = [i.fine for i in inputs]
        # large enough to spool to a temporary file before the unpicklable part is reached
        self.bad = [os.urandom(10 * 1024 * 1024), unpicklable(os.environ["MODE"])]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UnpicklableFlow()
