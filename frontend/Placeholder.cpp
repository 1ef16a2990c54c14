int cnncFrontendPlaceholder = 0;
