#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""apt-sources.py CODENAME: the machine's apt sources for release CODENAME (CODENAME,
CODENAME-updates, CODENAME-security, ...) as one-line "deb [signed-by=...] URI SUITE COMPONENT..."
entries, one a line, for mmdebstrap. Reads /etc/apt/sources.list, sources.list.d/*.list and
the deb822 sources.list.d/*.sources; other releases, deb-src and disabled entries are left out.
A Signed-By that holds a key instead of a path is left out too (apt's keyrings then apply)."""
import glob
import os
import sys


def main():
    codename = sys.argv[1]
    etc = os.environ.get('SNAPSAFE_APT_ETC', '/etc/apt')
    out = []

    def add(uri, suite, components, signed_by):
        if suite != codename and not suite.startswith(codename + '-') \
                and not suite.startswith(codename + '/'):
            return
        opts = ''
        if signed_by and '\n' not in signed_by and signed_by.startswith('/'):
            opts = '[signed-by=%s] ' % signed_by
        line = 'deb %s%s %s %s' % (opts, uri, suite, ' '.join(components))
        if line not in out:
            out.append(line)

    one_line = [os.path.join(etc, 'sources.list')]
    one_line += sorted(glob.glob(os.path.join(etc, 'sources.list.d', '*.list')))
    for path in one_line:
        try:
            lines = open(path, encoding='utf-8').read().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            words = line.split('#', 1)[0].split()
            if not words or words[0] != 'deb':
                continue
            words = words[1:]
            signed_by = ''
            if words and words[0].startswith('['):
                opts = []
                while words:
                    w = words.pop(0)
                    opts.append(w)
                    if w.endswith(']'):
                        break
                for o in ' '.join(opts).strip('[]').split():
                    if o.startswith('signed-by='):
                        signed_by = o.split('=', 1)[1]
            if len(words) >= 3:
                add(words[0], words[1], words[2:], signed_by)

    for path in sorted(glob.glob(os.path.join(etc, 'sources.list.d', '*.sources'))):
        text = open(path, encoding='utf-8').read()
        for para in text.split('\n\n'):
            fields = {}
            key = None
            for line in para.splitlines():
                if line.startswith('#'):
                    continue
                if line[:1] in (' ', '\t') and key:
                    fields[key] += '\n' + line.strip()
                elif ':' in line:
                    key, value = line.split(':', 1)
                    key = key.strip().lower()
                    fields[key] = value.strip()
            if 'deb' not in fields.get('types', '').split():
                continue
            if fields.get('enabled', 'yes').lower() == 'no':
                continue
            for uri in fields.get('uris', '').split():
                for suite in fields.get('suites', '').split():
                    add(uri, suite, fields.get('components', 'main').split(),
                        fields.get('signed-by', ''))
    print('\n'.join(out))


main()
