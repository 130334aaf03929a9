# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled twin of ``records.take_records_python`` (see records.py for the contract).

It reads lxml's tree through lxml's public C API (https://lxml.de/capi.html): the record and
field nodes are walked as libxml2 structs, so no Python proxy object is made per field. Field
names are kept per position between records of one object, so a name is only decoded, hashed
and looked up among the converters when it differs from the previous record's field at that
position. Text is read with lxml's own ``textOf`` and names with ``namespacedName``, so values
are exactly what ``field.text`` and ``field.tag`` give.

A record is handed to the Python ``fallback`` (the reference) when anything in it is not a
plain text field: a field with child elements, a comment or processing instruction, or a value
its converter refuses (the fallback raises the error with its message).
"""

cimport lxml.includes.etreepublic as cetree
from cpython.bytes cimport PyBytes_AS_STRING
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject
from libc.string cimport strcmp
from lxml.includes cimport tree

cetree.import_lxml__etree()


cdef class _Field:
    """What one position of the previous record held: its name and converter."""

    cdef bytes c_name
    cdef str tag
    cdef object converter

    def __cinit__(self, bytes c_name, str tag, object converter):
        self.c_name = c_name
        self.tag = tag
        self.converter = converter


def take_records(
    cetree._Element data,
    Py_ssize_t count,
    list sink,
    object converters_for,
    object fallback,
):
    cdef tree.xmlNode* c_record = data._c_node.children
    cdef tree.xmlNode* c_field
    cdef Py_ssize_t done = 0
    cdef Py_ssize_t position
    cdef dict record
    cdef dict converters = {}
    cdef list fields = []
    cdef _Field field
    cdef PyObject* found
    cdef object record_tag = None
    cdef object tag
    cdef object text
    cdef object converter
    cdef bint plain
    while c_record is not NULL and done < count:
        if not cetree._isElement(c_record):
            c_record = c_record.next
            continue
        done += 1
        if c_record.type != tree.XML_ELEMENT_NODE:
            sink.append(fallback(cetree.elementFactory(data._doc, c_record)))
            c_record = c_record.next
            continue
        tag = cetree.namespacedName(c_record)
        if tag != record_tag:
            record_tag = tag
            converters = dict(converters_for(tag))
            fields = []
        record = {}
        plain = True
        position = 0
        c_field = c_record.children
        while c_field is not NULL:
            if c_field.type != tree.XML_ELEMENT_NODE:
                if cetree._isElement(c_field):  # comment, PI, entity reference
                    plain = False
                    break
                c_field = c_field.next  # text between fields: not part of any field
                continue
            if cetree.hasChild(c_field):
                plain = False
                break
            field = None
            if position < PyList_GET_SIZE(fields):
                field = <_Field>PyList_GET_ITEM(fields, position)
            if (
                field is not None
                and c_field.ns is NULL
                and strcmp(<const char*>c_field.name, PyBytes_AS_STRING(field.c_name)) == 0
            ):
                tag = field.tag
                converter = field.converter
            else:
                tag = cetree.namespacedName(c_field)
                found = PyDict_GetItem(converters, tag)
                converter = <object>found if found is not NULL else None
                if c_field.ns is NULL:
                    field = _Field(<bytes>(<const char*>c_field.name), tag, converter)
                    if position < PyList_GET_SIZE(fields):
                        fields[position] = field
                    else:
                        fields.append(field)
            text = cetree.textOf(c_field)
            if text is not None and converter is not None:
                try:
                    text = converter(text)
                except Exception:
                    plain = False
                    break
            PyDict_SetItem(record, tag, text)
            position += 1
            c_field = c_field.next
        if plain:
            sink.append(record)
        else:
            sink.append(fallback(cetree.elementFactory(data._doc, c_record)))
        c_record = c_record.next
