"""packet_plan: which packets a frame needs, decided from the packet list
alone (pure functions, no video)."""

from fractions import Fraction

from lifelog_compression.packet_plan import Packet, PacketIndex, chunks, drop_expression, extra_cost, merge


def stream(*shown_at: tuple[int, bool]) -> list[Packet]:
    """Packets in decoding order, each (presentation slot, keyframe?), 100
    bytes apart, slots 1/30 s apart."""
    return [Packet(Fraction(slot, 30), 100 * (i + 1), key) for i, (slot, key) in enumerate(shown_at)]


# Two closed GOPs with B-frames: I0 P3 B1 B2 | I4 P7 B5 B6 (decoding order).
CLOSED = stream((0, True), (3, False), (1, False), (2, False), (4, True), (7, False), (5, False), (6, False))
# An open GOP: the second keyframe (slot 6) is followed by B-frames shown before it (slots 4, 5).
OPEN = stream((0, True), (3, False), (1, False), (2, False), (6, True), (4, False), (5, False), (9, False))


def test_a_frame_needs_its_keyframe_up_to_its_own_packet():
    index = PacketIndex.of(CLOSED)
    assert index is not None
    assert index.needs(index.packet_of(Fraction(0, 30))) == (0, 0)  # a keyframe: itself
    assert index.needs(index.packet_of(Fraction(1, 30))) == (0, 2)  # B1 after I0 and P3
    assert index.needs(index.packet_of(Fraction(4, 30))) == (4, 4)  # the second GOP stands alone
    assert index.needs(index.packet_of(Fraction(6, 30))) == (4, 7)


def test_leading_frames_of_an_open_gop_reach_back_to_the_keyframe_before():
    index = PacketIndex.of(OPEN)
    # B4 follows I6 in decoding order but is shown before it: it may lean on
    # P3, so decoding starts at I0.
    assert index.needs(index.packet_of(Fraction(4, 30))) == (0, 5)
    assert index.needs(index.packet_of(Fraction(6, 30))) == (4, 4)
    assert index.needs(index.packet_of(Fraction(9, 30))) == (4, 7)


def test_the_neighbour_before_a_keyframe_costs_the_whole_gop_before():
    index = PacketIndex.of(CLOSED)
    row = index.needs(index.packet_of(Fraction(4, 30)))
    before = index.needs(index.packet_of(Fraction(3, 30)))
    after = index.needs(index.packet_of(Fraction(5, 30)))
    assert extra_cost(before, [row]) == 2  # I0 and P3
    assert extra_cost(after, [row]) == 2  # P7 and B5
    assert extra_cost(row, [row]) == 0


def test_packets_that_cannot_be_named_by_offset_give_no_index():
    assert PacketIndex.of([]) is None
    assert PacketIndex.of(stream((0, False), (1, True))) is None  # does not start at a keyframe
    twice = stream((0, True), (1, False))
    assert PacketIndex.of([twice[0], Packet(twice[1].pts, twice[0].pos, False)]) is None  # offsets not rising
    assert PacketIndex.of([twice[0], Packet(twice[0].pts, 500, False)]) is None  # one time twice


def test_spans_merge_and_chunk_in_order():
    assert merge([(5, 7), (0, 2), (3, 3), (6, 9)]) == [(0, 3), (5, 9)]
    assert chunks([(0, 1), (4, 5), (8, 9)], 2) == [[(0, 1), (4, 5)], [(8, 9)]]


def test_the_drop_expression_keeps_exactly_the_spans_byte_ranges():
    index = PacketIndex.of(CLOSED)
    expr = drop_expression(index, [(0, 2), (4, 4)])
    assert expr == "not(between(pos\\,100\\,300)+between(pos\\,500\\,500))"
