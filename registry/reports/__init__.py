"""The yearly report to the regulator (每年报告履行主体责任情况) and the monthly ledger (台账) behind it.

Top of the domain layers: it only reads what the other packages record.
"""
