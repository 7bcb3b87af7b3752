# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmclock_analysis: reading vmclock-client's rounds and counting what repeats across clones.

A round (vmclock-client.c) is one engine draw and one getrandom() draw, tagged PRE (drawn
before the snapshot), MID (the snapshot fell during it: drawn around it) or POST (after the
resume). Only the draws after the resume (after()) are compared between clones: PRE rounds are
the same memory in every clone, and so is a MID round's output when the snapshot fell after the
draw.
"""

import itertools
import re

ROUND_RX = re.compile(r'^(PRE|MID|POST) seq=(\d+) mb=(\d+) ma=(\d+) e=([01]) rs=(\d+) hw=(\d+) '
                      r'mono=(\d+) eng=([0-9a-f]{64}) krn=([0-9a-f]{64})$')


def parse_rounds(text):
    """The rounds of one file, as dicts; a line that is not a round is an error."""
    out = []
    for line in text.splitlines():
        m = ROUND_RX.match(line.strip())
        if not m:
            raise ValueError('not a round: %r' % line)
        out.append({'tag': m.group(1), 'seq': int(m.group(2)), 'mb': int(m.group(3)),
                    'ma': int(m.group(4)), 'engine': m.group(5) == '1',
                    'reseeds': int(m.group(6)), 'hw': int(m.group(7)), 'mono': int(m.group(8)),
                    'eng': m.group(9), 'krn': m.group(10)})
    return out


def after(rounds):
    """The rounds drawn after the resume: POST, and a MID round whose engine reseeded (its
    reseed saw the new marker, so its draw came after the resume). A MID round without a
    reseed drew before the snapshot, as every PRE round did."""
    pre = [r for r in rounds if r['tag'] == 'PRE']
    base = pre[-1]['reseeds'] if pre else 0
    return [r for r in rounds if r['tag'] == 'POST' or
            (r['tag'] == 'MID' and r['reseeds'] > base)]


def before(rounds):
    return [r for r in rounds if r not in after(rounds)]


def first_fresh(rounds):
    """How the first draw after the resume was served: {'engine', 'hw_reseeded',
    'reseeded'}: reseeded (and hw_reseeded, with a hardware input) after the last round drawn
    wholly before the snapshot."""
    pre = [r for r in rounds if r['tag'] == 'PRE']
    first = after(rounds)[0]
    base = pre[-1] if pre else {'hw': 0, 'reseeds': 0}
    return {'engine': first['engine'], 'hw_reseeded': first['hw'] > base['hw'],
            'reseeded': first['reseeds'] > base['reseeds']}


def repeats(clones, field):
    """clones: {name: rounds}. The draws after the resume (field 'eng' or 'krn') that another
    clone also drew after its resume: {'draws', 'repeated', 'pairs': {'a/b': n},
    'first_unique': {name: index of the first such draw that no other clone drew, or None}}.
    n counts a's draws found among b's."""
    values = {name: [r[field] for r in after(rs)] for name, rs in clones.items()}
    sets = {name: set(v) for name, v in values.items()}
    out = {'draws': sum(len(v) for v in values.values()), 'repeated': 0, 'pairs': {},
           'first_unique': {}}
    for name, vals in values.items():
        others = set().union(*(s for n, s in sets.items() if n != name))
        out['repeated'] += sum(1 for v in vals if v in others)
        out['first_unique'][name] = next((i for i, v in enumerate(vals) if v not in others),
                                         None)
    for a, b in itertools.combinations(sorted(values), 2):
        out['pairs']['%s/%s' % (a, b)] = sum(1 for v in values[a] if v in sets[b])
    return out


def repeats_within(rounds, field):
    """Draws after the resume equal to an earlier one of the same clone (a repeat in time)."""
    vals = [r[field] for r in after(rounds)]
    return len(vals) - len(set(vals))


def repeats_of_before(clones, field):
    """Draws after the resume in any clone equal to a draw made before the snapshot."""
    old = set(r[field] for rs in clones.values() for r in before(rs))
    return sum(1 for rs in clones.values() for r in after(rs) if r[field] in old)
