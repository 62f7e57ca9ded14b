"""TEMPORARY stand-in until K2's protobuf.py lands. Delete when it does."""


class ProtobufError(Exception):
    pass


def decode(body):
    raise ProtobufError("protobuf request bodies are not supported yet")
