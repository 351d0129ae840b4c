"""Requests kazoo 2.11 has no API for, written as kazoo protocol records so they travel over a real
KazooClient connection (`call(client, Request(...))`): createContainer, createTTL, multiRead, checkWatches,
removeWatches, addWatch, getEphemerals, getAllChildrenNumber, whoAmI."""

from collections import namedtuple

from kazoo.protocol.serialization import (
    Create,
    GetChildren,
    GetData,
    MultiHeader,
    int_struct,
    long_struct,
    read_buffer,
    read_string,
    stat_struct,
    write_string,
)
from kazoo.exceptions import EXCEPTIONS
from kazoo.protocol.states import ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE


def call(client, request):
    """Sends `request` on the client's connection and waits for its result (raises kazoo's exceptions)."""
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=15)


def _path_and_stat(buffer, offset):
    path, offset = read_string(buffer, offset)
    return path, ZnodeStat._make(stat_struct.unpack_from(buffer, offset))


class CreateContainer(namedtuple("CreateContainer", "path data acl")):
    type = 19

    def serialize(self):
        return Create(self.path, self.data, self.acl or OPEN_ACL_UNSAFE, 4).serialize()

    @classmethod
    def deserialize(cls, buffer, offset):
        return _path_and_stat(buffer, offset)


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    type = 21

    def serialize(self):
        return Create(self.path, self.data, self.acl or OPEN_ACL_UNSAFE, self.flags).serialize() + long_struct.pack(
            self.ttl)

    @classmethod
    def deserialize(cls, buffer, offset):
        return _path_and_stat(buffer, offset)


class MultiRead(namedtuple("MultiRead", "operations")):
    """`operations` are kazoo GetData / GetChildren records; results are (data, stat), [children] or an
    exception instance per op."""

    type = 22

    def serialize(self):
        b = bytearray()
        for op in self.operations:
            b.extend(MultiHeader(op.type, False, -1).serialize() + op.serialize())
        return bytes(b + MultiHeader(-1, True, -1).serialize())

    @classmethod
    def deserialize(cls, buffer, offset):
        results = []
        while True:
            header, offset = MultiHeader.deserialize(buffer, offset)
            if header.done:
                return results
            if header.type == GetData.type:
                data, offset = read_buffer(buffer, offset)
                stat = ZnodeStat._make(stat_struct.unpack_from(buffer, offset))
                offset += stat_struct.size
                results.append((data, stat))
            elif header.type == GetChildren.type:
                count = int_struct.unpack_from(buffer, offset)[0]
                offset += int_struct.size
                children = []
                for _ in range(count):
                    child, offset = read_string(buffer, offset)
                    children.append(child)
                results.append(children)
            else:
                err = int_struct.unpack_from(buffer, offset)[0]
                offset += int_struct.size
                results.append(EXCEPTIONS[err]())


class _PathAndInt(namedtuple("_PathAndInt", "path value")):
    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.value)

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class CheckWatches(_PathAndInt):
    type = 17


class RemoveWatches(_PathAndInt):
    type = 18


class AddWatch(_PathAndInt):
    type = 106


class GetEphemerals(namedtuple("GetEphemerals", "prefix")):
    type = 103

    def serialize(self):
        return write_string(self.prefix)

    @classmethod
    def deserialize(cls, buffer, offset):
        count = int_struct.unpack_from(buffer, offset)[0]
        offset += int_struct.size
        paths = []
        for _ in range(count):
            path, offset = read_string(buffer, offset)
            paths.append(path)
        return paths


class GetAllChildrenNumber(namedtuple("GetAllChildrenNumber", "path")):
    type = 104

    def serialize(self):
        return write_string(self.path)

    @classmethod
    def deserialize(cls, buffer, offset):
        return int_struct.unpack_from(buffer, offset)[0]


class WhoAmI(namedtuple("WhoAmI", "unused", defaults=(None,))):
    """No body on the wire. (The unused field keeps the record truthy: kazoo skips replies to falsy requests.)"""

    type = 107

    def serialize(self):
        return b""

    @classmethod
    def deserialize(cls, buffer, offset):
        count = int_struct.unpack_from(buffer, offset)[0]
        offset += int_struct.size
        ids = []
        for _ in range(count):
            scheme, offset = read_string(buffer, offset)
            user, offset = read_string(buffer, offset)
            ids.append((scheme, user))
        return ids
