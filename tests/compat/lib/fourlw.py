"""Prints a server's answer to a four-letter word: `python fourlw.py 127.0.0.1:2181 srvr`."""

import sys

from zkwire import four_letter_word

if __name__ == "__main__":
    print(four_letter_word(sys.argv[1], sys.argv[2], timeout=2.0), end="")
