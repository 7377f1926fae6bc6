# The Referral model and its lifecycle arrive with the intake issue (see README roadmap).
