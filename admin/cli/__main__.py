"""`python -m admin.cli`, the same as the `supportdesk` script."""

from admin.cli import main

if __name__ == "__main__":  # not when a tool imports every module (e.g. the error-text walk)
    main()
