"""`python -m admin.cli`, the same as the `supportdesk` script."""

from admin.cli import main

main()
