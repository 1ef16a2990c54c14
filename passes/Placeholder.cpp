int cnncPassesPlaceholder = 0;
