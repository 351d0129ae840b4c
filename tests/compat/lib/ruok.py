"""Prints a server's answer to the `ruok` four-letter word: `python ruok.py 127.0.0.1:2181`."""

import sys

from zkwire import four_letter_word

if __name__ == "__main__":
    print(four_letter_word(sys.argv[1], "ruok", timeout=2.0))
