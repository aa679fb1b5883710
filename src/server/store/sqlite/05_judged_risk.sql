-- Risk judged by the gate: the agent's label and the gate's assessment.
ALTER TABLE proposals ADD COLUMN declared_risk TEXT;
ALTER TABLE proposals ADD COLUMN assessment TEXT;
